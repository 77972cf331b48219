"""Composition root of the outcomes service."""

from fastapi import FastAPI

from services.outcomes.api import router
from services.outcomes.application import Outcomes
from services.outcomes.projections.catalogue import Catalogue
from services.outcomes.projections.mediation_sustained import MediationSustainedProjection
from services.outcomes.projections.returns import ReturnsProjection
from services.outcomes.projections.support_episodes import SupportEpisodes
from services.outcomes.projections.support_plans import SupportPlans
from services.outcomes.rules import outcomes_rules
from shared.service import ServiceRuntime, service_app
from shared.settings import Settings


def build(settings: Settings) -> FastAPI:
    rules = outcomes_rules(settings)
    runtime = ServiceRuntime(
        name="outcomes",
        settings=settings,
        store_class=Outcomes,
        projections=[SupportEpisodes(rules), SupportPlans(), ReturnsProjection(), MediationSustainedProjection(),
                     Catalogue()],
    )
    app = service_app(runtime, "casetrack outcomes",
                      "Support plans against the outcomes framework, outcomes at departure, and the commissioners' "
                      "KPIs traced to their events")
    app.state.runtime = runtime
    app.state.rules = rules
    app.include_router(router)
    return app
