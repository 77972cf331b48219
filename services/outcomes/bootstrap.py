"""Composition root of the outcomes service (its events come with their own issue)."""

from fastapi import FastAPI

from services.outcomes.api import router
from shared.service import ServiceRuntime, service_app
from shared.settings import Settings


def build(settings: Settings) -> FastAPI:
    runtime = ServiceRuntime(name="outcomes", settings=settings)
    app = service_app(runtime, "casetrack outcomes", "The outcomes service")
    app.state.runtime = runtime
    app.include_router(router)
    return app
