"""Composition root of the referral service."""

from fastapi import FastAPI

from services.referral.api import router
from services.referral.application import Referrals
from services.referral.birthdays import start_birthday_sweep
from services.referral.district_inbox import open_district_inbox
from services.referral.projections.case_ages import CaseAgesProjection
from services.referral.projections.caseload import CaseloadProjection
from services.referral.projections.emergency_placements import EmergencyPlacementsProjection
from services.referral.projections.mediation_returns import MediationReturnsProjection
from shared.service import ServiceRuntime, service_app
from shared.settings import Settings


def build(settings: Settings) -> FastAPI:
    runtime = ServiceRuntime(name="referral", settings=settings, store_class=Referrals,
                             projections=[CaseloadProjection(), EmergencyPlacementsProjection(),
                                          MediationReturnsProjection(), CaseAgesProjection()],
                             store_env={"VAULT_KEY": settings.vault_secret, "RETURN_HOME_FOLLOW_UP_EARLY_DAYS":
                                        str(settings.return_home_follow_up_early_days)},
                             starting=[open_district_inbox, start_birthday_sweep])
    app = service_app(runtime, "casetrack referral", "Young people's cases from presentation to closure")
    app.state.runtime = runtime
    app.include_router(router)
    return app
