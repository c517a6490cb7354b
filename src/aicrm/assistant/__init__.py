"""The AI assistant: a chat that operates the CRM through tool calls (issue 5).

- `tools`    — the one registry of tools (OpenAI tool-schema format), executed through the same
               services and permission checks as the REST API; used by the chat engine, the
               offline command engine and the MCP server alike;
- `toolset/` — the tools themselves, one module per domain;
- `resolve`  — fuzzy, indexed matching of names in commands against the organization's records;
- `offline/` — the offline command engine (everyday English → tool calls), the default;
- `engine`   — one conversation turn: offline planner or an OpenAI-compatible model with tool
               calling, clarifications, delete confirmations, undo, step cap and fallback;
- `endpoints`, `jobs`, `stream` — the chat API (async job + status polling, SSE streaming);
- `mcp`      — the same tools over the Model Context Protocol (stdio and streamable HTTP).
"""
