"""Composition root of the placement service (its events come with their own issues)."""

from fastapi import FastAPI

from shared.service import ServiceRuntime, service_app
from shared.settings import Settings


def build(settings: Settings) -> FastAPI:
    runtime = ServiceRuntime(name="placement", settings=settings)
    app = service_app(runtime, "casetrack placement", "The placement service")
    app.state.runtime = runtime
    return app
