"""The outcomes HTTP API, grouped by what the user does (besides /health and /projections, which every service has)."""

from fastapi import APIRouter

router = APIRouter()
