"""Composition root of the referral service."""

from fastapi import FastAPI

from shared.service import ServiceRuntime, service_app
from shared.settings import Settings
from services.referral.api import router
from services.referral.application import Referrals


def build(settings: Settings) -> FastAPI:
    runtime = ServiceRuntime(name="referral", settings=settings, store_class=Referrals)
    app = service_app(runtime, "casetrack referral", "Young people's cases from presentation to closure")
    app.state.runtime = runtime
    app.include_router(router)
    return app
