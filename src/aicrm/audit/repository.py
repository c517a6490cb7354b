from __future__ import annotations

from aicrm.kit.repository import Repo
from aicrm.models import AuditLog


class AuditRepo(Repo[AuditLog]):
    model = AuditLog
    entity = "audit entry"
