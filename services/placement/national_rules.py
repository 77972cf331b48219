"""The national rules the placement service applies, read from dated configuration (`national_rules.toml`
beside this module): an administrator changes them without a code change. Read once when the store is built."""

from __future__ import annotations

import tomllib
from datetime import date
from functools import cache
from pathlib import Path

from services.placement.domain import SupportedAccommodationRule
from shared.contracts.placement_vocabulary import ProvisionType

NATIONAL_RULES = Path(__file__).parent / "national_rules.toml"


def supported_accommodation_rule(path: Path = NATIONAL_RULES) -> SupportedAccommodationRule:
    """The Ofsted registration rule for supported accommodation, as dated in the file at `path`."""
    entries = tomllib.loads(path.read_text()).get("supported_accommodation_registration", [])
    dated = sorted(((_day(entry["from"]), frozenset(ProvisionType(kind) for kind in entry["provision_types"]))
                    for entry in entries), key=lambda dated_entry: dated_entry[0])
    return SupportedAccommodationRule(tuple(dated))


@cache
def supported_accommodation_in_force() -> SupportedAccommodationRule:
    """The rule of the shipped file (read once per process)."""
    return supported_accommodation_rule()


def _day(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
