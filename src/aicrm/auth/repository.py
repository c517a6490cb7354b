from __future__ import annotations

from aicrm.kit.repository import Repo
from aicrm.models import ApiKey


class ApiKeyRepo(Repo[ApiKey]):
    model = ApiKey
    entity = "api_key"
