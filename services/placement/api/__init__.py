"""The placement HTTP API for providers and the placement team, grouped by what the user does.

- `catalogue`: providers, schemes, capacity, occupancy and vacancies;
- `placements`: starting, moving, ending placements, B&B nights, and stays over their limit;
- `cases`: what the service knows of cases, and those awaiting a placement;
- `floating_support`: floating support episodes, the open ones by scheme, and destinations not known.

Routes build a command, send it to its handler (`services.placement.handlers`) and shape the answer
(`views`); domain errors reach the app's exception handlers unmapped.
"""

from fastapi import APIRouter

from . import cases, catalogue, floating_support, placements

router = APIRouter()
router.include_router(catalogue.router)
router.include_router(placements.router)
router.include_router(cases.router)
router.include_router(floating_support.router)

__all__ = ["router"]
