"""Composition root of the finance service."""

from fastapi import FastAPI

from services.finance.api import router
from services.finance.application import Finance
from services.finance.cost_run import start_cost_run
from services.finance.projections.contracts import Contracts, OutcomeResults
from services.finance.projections.stays import Stays
from shared.service import ServiceRuntime, service_app
from shared.settings import Settings


def build(settings: Settings) -> FastAPI:
    runtime = ServiceRuntime(
        name="finance",
        settings=settings,
        store_class=Finance,
        projections=[Stays(), Contracts(), OutcomeResults()],
        starting=[start_cost_run],
    )
    app = service_app(runtime, "casetrack finance",
                      "Contracts and their revenue packages, funding streams and shares, budgets and individual "
                      "service funds")
    app.state.runtime = runtime
    app.include_router(router)
    return app
