"""The outcomes HTTP API, grouped by what the user does (besides /health and /projections, which every service has)."""

from fastapi import APIRouter

from services.outcomes.api import measures, support

router = APIRouter()
router.include_router(support.router)
router.include_router(measures.router)
