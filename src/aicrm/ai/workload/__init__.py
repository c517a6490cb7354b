"""Workload manager and pattern insights.

- `planner`: the auto-assignment optimiser (pure numpy/scipy; no database);
- `patterns`: the detectors behind the scheduled scans (bottlenecks, anomalies, imbalance);
- `service`: loads what they need, stores findings through `aicrm.ai.insights.record`, and
  applies plans through the tasks service;
- `endpoints` (`/api/v1/workspaces/{workspace_id}/...`) and `jobs` (`ai.scan_patterns`).

The seeds' "workspace" is the organization: `workspace_id` must be the caller's organization id.
"""
