"""Composition root of the journeys service."""

from fastapi import FastAPI

from services.journeys.api import router
from services.journeys.api.journeys import prepare_journey_reads
from services.journeys.projections.cases_by_district import CasesByDistrict
from services.journeys.projections.journeys import JourneyProjection
from services.journeys.projections.status_periods import StatusPeriods
from services.journeys.summaries import start_summarizing
from shared.service import ServiceRuntime, service_app
from shared.settings import Settings


def build(settings: Settings) -> FastAPI:
    runtime = ServiceRuntime(
        name="journeys",
        settings=settings,
        projections=[JourneyProjection(), CasesByDistrict(), StatusPeriods()],
        starting=[prepare_journey_reads, start_summarizing],
    )
    app = service_app(runtime, "casetrack journeys",
                      "Journeys, pathways and KPIs projected from every service's events")
    app.state.runtime = runtime
    app.include_router(router)
    return app
