from __future__ import annotations

from aicrm.kit.repository import Repo
from aicrm.models import CustomField


class CustomFieldRepo(Repo[CustomField]):
    model = CustomField
    entity = "custom field"

    async def for_entity(self, entity_type: str) -> list[CustomField]:
        stmt = self.select().where(CustomField.entity_type == entity_type).order_by(CustomField.key)
        return list((await self.session.execute(stmt)).scalars())
