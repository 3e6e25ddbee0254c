"""The HTTP API (FastAPI): `create_app(settings, store)`; one router module per resource."""

from api.app import create_app

__all__ = ["create_app"]
