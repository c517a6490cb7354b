"""assistant conversations: the chat's conversations, bounded message memory and the
actions it took (for undo)

Revision ID: b7d2f3e4a5c8
Revises: a5c1e2d3f4b6
Create Date: 2026-12-07 06:30:17.674804
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import aicrm.models.base

revision: str = "b7d2f3e4a5c8"
down_revision: str | None = "a5c1e2d3f4b6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "assistant_conversation",
        sa.Column("owner", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "api_key_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("pending", sa.JSON(), nullable=True),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("last_message_at", aicrm.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("busy_until", aicrm.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "created_at",
            aicrm.models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            aicrm.models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_key.id"],
            name=op.f("fk_assistant_conversation_api_key_id_api_key"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_assistant_conversation_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_assistant_conversation_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assistant_conversation")),
        sa.UniqueConstraint(
            "organization_id",
            "owner",
            "session_id",
            name=op.f("uq_assistant_conversation_organization_id_owner_session_id"),
        ),
    )
    with op.batch_alter_table("assistant_conversation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_assistant_conversation_organization_id"),
            ["organization_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_assistant_conversation_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "assistant_message",
        sa.Column(
            "conversation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("role", sa.String(length=12), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column(
            "reply_to_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("job_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("tool_calls", sa.JSON(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("question", sa.Text(), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("awaiting", sa.String(length=16), nullable=True),
        sa.Column("provider", sa.String(length=40), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "created_at",
            aicrm.models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            aicrm.models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["assistant_conversation.id"],
            name=op.f("fk_assistant_message_conversation_id_assistant_conversation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_assistant_message_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assistant_message")),
    )
    with op.batch_alter_table("assistant_message", schema=None) as batch_op:
        batch_op.create_index(
            "ix_assistant_message_conversation", ["conversation_id", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_assistant_message_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "assistant_action",
        sa.Column(
            "conversation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("call_key", sa.String(length=64), nullable=False),
        sa.Column("tool", sa.String(length=60), nullable=False),
        sa.Column("arguments", sa.JSON(), nullable=False),
        sa.Column("op", sa.String(length=16), nullable=False),
        sa.Column("entity_type", sa.String(length=40), nullable=False),
        sa.Column("entity_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("label", sa.String(length=300), nullable=False),
        sa.Column("link", sa.String(length=300), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("undoable", sa.Boolean(), nullable=False),
        sa.Column("undone_at", aicrm.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "created_at",
            aicrm.models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            aicrm.models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["assistant_conversation.id"],
            name=op.f("fk_assistant_action_conversation_id_assistant_conversation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["assistant_message.id"],
            name=op.f("fk_assistant_action_message_id_assistant_message"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_assistant_action_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_assistant_action_user_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assistant_action")),
    )
    with op.batch_alter_table("assistant_action", schema=None) as batch_op:
        batch_op.create_index(
            "ix_assistant_action_conversation", ["conversation_id", "id"], unique=False
        )
        # pruning messages sets their actions' message_id to NULL: found by this index
        batch_op.create_index("ix_assistant_action_message", ["message_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_assistant_action_organization_id"), ["organization_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("assistant_action", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assistant_action_organization_id"))
        batch_op.drop_index("ix_assistant_action_message")
        batch_op.drop_index("ix_assistant_action_conversation")

    op.drop_table("assistant_action")
    with op.batch_alter_table("assistant_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assistant_message_organization_id"))
        batch_op.drop_index("ix_assistant_message_conversation")

    op.drop_table("assistant_message")
    with op.batch_alter_table("assistant_conversation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assistant_conversation_user_id"))
        batch_op.drop_index(batch_op.f("ix_assistant_conversation_organization_id"))

    op.drop_table("assistant_conversation")
