"""Composition root of the placement service."""

from functools import partial

from fastapi import FastAPI

from services.placement.api import router
from services.placement.application import Placements
from services.placement.national_rules import supported_accommodation_in_force
from services.placement.projections.departures import DeparturesReadModel
from services.placement.projections.floating_support import FloatingSupportReadModel
from services.placement.projections.known_cases import KnownCasesProjection
from services.placement.projections.placements import PlacementReadModel
from shared.districts import load_district_register
from shared.service import ServiceRuntime, service_app
from shared.settings import Settings


def build(settings: Settings) -> FastAPI:
    runtime = ServiceRuntime(
        name="placement",
        settings=settings,
        store_class=partial(Placements, register=load_district_register(settings),  # type: ignore[arg-type]
                            supported_accommodation=supported_accommodation_in_force()),
        projections=[KnownCasesProjection(), PlacementReadModel(), FloatingSupportReadModel(), DeparturesReadModel()],
        store_env={"PLACEMENT_ID_KEY": settings.placement_id_secret},
    )
    app = service_app(runtime, "casetrack placement",
                      "Providers, schemes and their units, and young people's placements along the pathway")
    app.state.runtime = runtime
    app.include_router(router)
    return app
