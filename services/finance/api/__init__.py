"""The finance HTTP API, grouped by what the user does (besides /health and /projections, which every service has)."""

from fastapi import APIRouter

from services.finance.api import budgets, contracts, costs, funds

router = APIRouter()
router.include_router(contracts.router)
router.include_router(budgets.router)
router.include_router(funds.router)
router.include_router(costs.router)
