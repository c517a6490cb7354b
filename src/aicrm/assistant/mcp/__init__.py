"""The assistant's tools over the Model Context Protocol, for desktop AI clients and agents.

Every tool of `aicrm.assistant.tools` is offered with its name, description and JSON schema
(plus annotations: read-only, destructive), listed only when the caller's scopes allow it, and
executed by `tools.execute` exactly as the chat engine does: same services, same permission
checks, same tenancy, the organization's time zone. Each call runs in its own database
transaction, committed when the tool answers `ok` and rolled back otherwise.

Authentication is an organization API key (`aicrm_…`, scopes read / write / admin); a user's
login token is refused. Its actions are audited under the key (`actor_api_key_id`).
- stdio: `aicrm mcp --api-key …` (better: `AICRM_API_KEY`), on the database of the usual
  settings (`DATABASE_URL`); a bad key exits 1 with the reason on stderr. Logs go to stderr.
- HTTP:  streamable HTTP at `POST /mcp` of the app, `Authorization: Bearer <api key>` (or
  `X-API-Key`); a missing or invalid key is a 401 problem+json before any MCP traffic. The
  endpoint is stateless with JSON responses (every POST stands alone; GET and DELETE answer
  405), so any worker of a multi-process deployment can answer any request. Both the 2026
  per-request protocol and the older initialize handshake are served.

Results: the text content is the `ToolResult.to_dict()` JSON and the same object is the
structured content; `isError` is set for denied / invalid / not_found / unsupported (and
`error`, an unexpected failure, logged). `clarify` and `confirm` are questions, not errors.

Destructive tools (`delete_record`): there is no chat turn in which the user can say "yes", so
their MCP schema has an extra optional `confirm` boolean. A first call answers `confirm` with the
question naming the record (and `to_confirm` telling the client what to do); only a second call
with the same arguments plus `"confirm": true`, by the same API key within
`server.CONFIRM_TTL_SECONDS`, runs with `ctx.confirmed`. A `confirm: true` without that earlier
answer counts as the first call (it answers `confirm`), so a client cannot skip the question.
Pending confirmations live in the serving process (one stdio process; behind several HTTP
workers a second call that lands on another worker is asked again).

`mcp.http` (the endpoint) is light; `mcp.server` imports the `mcp` SDK (~0.5 s, ~20 MB), on the
first MCP request or by `aicrm mcp`.
"""

from aicrm.assistant.mcp.http import MCPEndpoint, mount

__all__ = ["MCPEndpoint", "mount"]
