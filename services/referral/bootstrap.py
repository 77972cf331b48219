"""Composition root of the referral service: the only place its parts are wired."""

from fastapi import FastAPI

from shared.service import ServiceRuntime, service_app
from shared.settings import Settings
from services.referral.api import router
from services.referral.application import Referrals
from services.referral.caseload import CaseloadProjection, EmergencyPlacementsProjection, prepare_read_model
from services.referral.district_inbox import open_district_inbox


def build(settings: Settings) -> FastAPI:
    runtime = ServiceRuntime(name="referral", settings=settings, store_class=Referrals,
                             projections={"referral": CaseloadProjection(),
                                          "placement": EmergencyPlacementsProjection()},
                             prepare_read_model=prepare_read_model,
                             store_env={"VAULT_KEY": settings.vault_key.get_secret_value()},
                             starting=[open_district_inbox])
    app = service_app(runtime, "casetrack referral", "Young people's cases from presentation to closure")
    app.state.runtime = runtime
    app.include_router(router)
    return app
