"""Composition root of the outcomes service (its events come with their own issues)."""

from fastapi import FastAPI

from shared.service import ServiceRuntime, service_app
from shared.settings import Settings


def build(settings: Settings) -> FastAPI:
    runtime = ServiceRuntime(name="outcomes", settings=settings)
    app = service_app(runtime, "casetrack outcomes", "The outcomes service")
    app.state.runtime = runtime
    return app
