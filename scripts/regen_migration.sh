#!/usr/bin/env bash
# While nothing has been released, the schema is one initial revision regenerated from the models.
# (After the first release this script goes away and every change gets its own revision.)
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
rm -f migrations/versions/*_initial_schema.py
DATABASE_URL="sqlite+aiosqlite:///$tmp/autogen.db" .venv/bin/alembic revision --autogenerate -m "initial schema" >/dev/null
.venv/bin/ruff format -q migrations
rm -rf "$tmp"
ls migrations/versions
