"""The journeys HTTP API, grouped by what analysts and auditors read."""

from fastapi import APIRouter

from services.journeys.api import journey_map, journeys, pathways, status

router = APIRouter()
router.include_router(journeys.router)
router.include_router(pathways.router)
router.include_router(journey_map.router)
router.include_router(status.router)
