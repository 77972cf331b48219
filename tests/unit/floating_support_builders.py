"""Builders for the floating support tests (no tests here)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from shared.contracts.placement_vocabulary import PathwayStage, ProvisionType
from shared.contracts.vocabulary import Level

from .placement_builders import Catalogue

FLOATING_SUPPORT = {"name": "Floating Support Service", "provision_type": ProvisionType.floating_support,
                    "pathway_stage": PathwayStage.progression, "support_level": Level.low,
                    "support_hours_per_week": 3.0, "capacity_units": 2}
"""A floating support scheme in Preston with 2 support places, 3 hours a week."""


def a_floating_support_scheme(catalogue: Catalogue, **overrides: Any) -> UUID:
    return catalogue.scheme(**(FLOATING_SUPPORT | overrides))
