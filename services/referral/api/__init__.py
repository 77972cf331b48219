"""The referral HTTP API, grouped by what the user does. Routes are plain `def`: the store is synchronous.

Each route parses its input, builds one command and sends it to its handler; domain errors become HTTP
answers once, by the exception handlers `service_app` registers (`shared.errors`).
"""

from fastapi import APIRouter

from services.referral.api import caseload, cases, duties, inbox, mediation, people, referrals, status

router = APIRouter()
for part in (referrals, cases, people, inbox, caseload, duties, mediation, status):
    router.include_router(part.router)
