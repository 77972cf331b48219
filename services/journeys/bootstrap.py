"""Composition root of the journeys service."""

from fastapi import FastAPI

from shared.service import ServiceRuntime, service_app
from shared.settings import Settings
from services.journeys.api import router
from services.journeys.projections import JourneyProjection, prepare_read_model


def build(settings: Settings) -> FastAPI:
    runtime = ServiceRuntime(
        name="journeys",
        settings=settings,
        projections={"referral": JourneyProjection(), "placement": JourneyProjection()},
        prepare_read_model=prepare_read_model,
    )
    app = service_app(runtime, "casetrack journeys",
                      "Journeys, pathways and KPIs projected from every service's events")
    app.state.runtime = runtime
    app.include_router(router)
    return app
