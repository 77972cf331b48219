"""Composition root of the finance service (its events come with their own issue)."""

from fastapi import FastAPI

from services.finance.api import router
from shared.service import ServiceRuntime, service_app
from shared.settings import Settings


def build(settings: Settings) -> FastAPI:
    runtime = ServiceRuntime(name="finance", settings=settings)
    app = service_app(runtime, "casetrack finance", "The finance service")
    app.state.runtime = runtime
    app.include_router(router)
    return app
