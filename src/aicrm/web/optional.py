"""Domain services the UI uses when they are installed (deals, activities, tasks, views are built
alongside the UI); a missing one hides its pages and sections instead of showing placeholders."""

from __future__ import annotations

import importlib
from types import ModuleType


def service(domain: str) -> ModuleType | None:
    name = f"aicrm.{domain}.service"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None
        raise


deals = service("deals")
activities = service("activities")
tasks = service("tasks")
views = service("views")
