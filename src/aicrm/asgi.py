"""ASGI entry point for uvicorn / granian: `aicrm.asgi:app`."""

from aicrm.app import create_app

app = create_app()
