"""`sceneline serve`: the TwelveLabs v1.3 REST API over sceneline's index (FastAPI)."""

from sceneline.pipelines.server.app import create_app
from sceneline.pipelines.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]
