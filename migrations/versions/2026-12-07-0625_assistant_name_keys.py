"""assistant name keys: folded name keys on leads and deals, later-word indexes

Revision ID: a5c1e2d3f4b6
Revises: d7a09f6e5bed
Create Date: 2026-12-07 06:30:00

`lead.name_key` and `deal.name_key` hold `kit.text.fold(name)` (as `contact.name_key` and
`company.name_key` already do), backfilled here in batches. With the (organization, key) index
and an expression index on the key from its second word on, the assistant's name resolution
finds its candidates by index range scans on both dialects.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from aicrm.kit.text import fold

revision: str = "a5c1e2d3f4b6"
down_revision: str | None = "d7a09f6e5bed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000


def _rest(dialect: str) -> str:
    find = "instr" if dialect == "sqlite" else "strpos"
    return f"substr(name_key, {find}(name_key, ' ') + 1)"


def _backfill(table: str) -> None:
    bind = op.get_bind()
    t = sa.table(table, sa.column("id", sa.Integer), sa.column("name", sa.String))
    u = sa.table(table, sa.column("id", sa.Integer), sa.column("name_key", sa.String))
    stmt = (
        sa.update(u)
        .where(u.c.id == sa.bindparam("row_id"))
        .values(name_key=sa.bindparam("key"))
        .execution_options(synchronize_session=False)
    )
    last = 0
    while True:
        rows = bind.execute(
            sa.select(t.c.id, t.c.name).where(t.c.id > last).order_by(t.c.id).limit(BATCH)
        ).all()
        if not rows:
            return
        bind.execute(stmt, [{"row_id": r.id, "key": fold(r.name)} for r in rows])
        last = rows[-1].id


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in ("lead", "deal"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("name_key", sa.String(length=200), server_default="", nullable=False)
            )
        _backfill(table)
        op.create_index(f"ix_{table}_org_name_key", table, ["organization_id", "name_key"])
    for table in ("lead", "deal", "company"):
        op.create_index(
            f"ix_{table}_org_name_rest", table, ["organization_id", sa.text(_rest(dialect))]
        )


def downgrade() -> None:
    for table in ("lead", "deal", "company"):
        op.drop_index(f"ix_{table}_org_name_rest", table_name=table)
    for table in ("lead", "deal"):
        op.drop_index(f"ix_{table}_org_name_key", table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("name_key")
