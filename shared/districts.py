"""The district register: casetrack's district housing authorities and their local rules, as dated data.

Districts belong to a county or are unitary, belong to commissioning areas (lots), and change: a district is
renamed or merged into another from a day on. What differs between councils (which placement routes need a
prior panel decision...) is a district's dated rule. All of it is read from a TOML file
(`shared/data/district_register.toml` unless the setting `district_register_file` names another), so an
administrator changes it without a code change.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path

from shared.contracts.placement_vocabulary import PlacementRoute

DEFAULT_REGISTER = Path(__file__).parent / "data" / "district_register.toml"


@dataclass(frozen=True)
class DistrictRules:
    """A district's local rules in force on a day."""

    routes_needing_panel: frozenset[PlacementRoute] = frozenset({PlacementRoute.panel})
    """The placement routes that need a prior panel decision allocating a service."""


@dataclass(frozen=True)
class DatedRules:
    effective_from: date
    rules: DistrictRules


@dataclass(frozen=True)
class District:
    code: str
    name: str
    rules: tuple[DatedRules, ...] = field(default=())

    def rules_on(self, day: date) -> DistrictRules:
        in_force = [dated.rules for dated in self.rules if dated.effective_from <= day]
        return in_force[-1] if in_force else DistrictRules()


@dataclass(frozen=True)
class DistrictRegister:
    districts: dict[str, District]

    def district(self, code: str) -> District:
        from shared.contracts.vocabulary import UnknownDistrict

        if code not in self.districts:
            raise UnknownDistrict(f"unknown district; known districts: {', '.join(sorted(self.districts))}")
        return self.districts[code]

    def rules(self, code: str, on: date) -> DistrictRules:
        """District `code`'s rules in force on `on`."""
        return self.district(code).rules_on(on)

    @classmethod
    def read(cls, path: Path) -> DistrictRegister:
        data = tomllib.loads(path.read_text())
        districts = {}
        for code, entry in data["districts"].items():
            rules = tuple(
                DatedRules(date.fromisoformat(str(r["from"])),
                           DistrictRules(frozenset(PlacementRoute(x) for x in r["routes_needing_panel"])))
                for r in entry.get("rules", []))
            districts[code] = District(code, entry["name"], tuple(sorted(rules, key=lambda r: r.effective_from)))
        return cls(districts)


@cache
def district_register() -> DistrictRegister:
    """The register in force in this process (read once)."""
    return DistrictRegister.read(DEFAULT_REGISTER)
