from __future__ import annotations

from typing import Any

from aicrm.kit.schemas import Record


class AuditOut(Record):
    organization_id: int | None
    actor_user_id: int | None
    actor_api_key_id: int | None
    action: str
    entity_type: str
    entity_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None
    ip: str | None
