"""The district register: casetrack's district housing authorities and their local rules, as dated data.

Districts belong to a county or are unitary, belong to commissioning areas (lots), and change: a district is
renamed or merged into another from a day on. What differs between councils (which placement routes need a
prior panel decision...) is a dated rule, set for a county (its districts inherit it) or for one district. All of
it is read from a TOML file (`shared/data/district_register.toml` unless the setting `district_register_file`
names another) when a process starts, so an administrator changes it without a code change.

Every code the register has ever had stays known (events recorded under it stay valid); a new fact must name a
district in force on its day (`DistrictRegister.in_force`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from datetime import date
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from shared.contracts.placement_vocabulary import PlacementRoute
from shared.contracts.vocabulary import DistrictNotInForce, UnknownDistrict

if TYPE_CHECKING:
    from shared.settings import Settings

DEFAULT_REGISTER = Path(__file__).parent / "data" / "district_register.toml"

CODE_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
"""A district's code is a NATS subject token: lower-case letters and digits, words joined by hyphens."""

Change = Literal["renamed", "merged", "split", "abolished"]


class DistrictRegisterInvalid(ValueError):
    """The register file cannot be used; the message names the file and the problem in one line."""


@dataclass(frozen=True)
class DistrictRules:
    """A district's local rules in force on a day."""

    routes_needing_panel: frozenset[PlacementRoute] = frozenset({PlacementRoute.panel})
    """The placement routes that need a prior panel decision allocating a service."""


RULE_NAMES = tuple(f.name for f in fields(DistrictRules))


@dataclass(frozen=True)
class DatedRules:
    """Rules taking effect from a day; `given` names the rules the entry sets (the others are inherited)."""

    effective_from: date
    rules: DistrictRules
    given: frozenset[str] = frozenset(RULE_NAMES)


def _latest(dated: tuple[DatedRules, ...], name: str, day: date) -> DatedRules | None:
    in_force = [entry for entry in dated if entry.effective_from <= day and name in entry.given]
    return max(in_force, key=lambda entry: entry.effective_from) if in_force else None


@dataclass(frozen=True)
class County:
    """A county council: its districts inherit its rules unless they set their own."""

    code: str
    name: str
    rules: tuple[DatedRules, ...] = ()


@dataclass(frozen=True)
class District:
    """A district housing authority (or a unitary council) under one code, in force from a day until a day."""

    code: str
    name: str
    rules: tuple[DatedRules, ...] = field(default=())
    county: str | None = None
    """The county council it belongs to; None for a unitary council."""
    areas: tuple[str, ...] = ()
    """The commissioning areas (lots) it belongs to, e.g. East Kent."""
    in_force_from: date = date.min
    in_force_until: date | None = None
    """The last day it was in force under this code (None: still in force)."""
    successors: tuple[str, ...] = ()
    """The districts that took over from the day after `in_force_until`."""
    change: Change | None = None
    """How it ended: renamed, merged, split or abolished."""

    @property
    def unitary(self) -> bool:
        return self.county is None

    def in_force_on(self, day: date) -> bool:
        return self.in_force_from <= day and (self.in_force_until is None or day <= self.in_force_until)

    def rules_on(self, day: date) -> DistrictRules:
        """Its own rules in force on `day` (without the county's: see `DistrictRegister.rules`)."""
        return _resolve(day, self.rules)


def _resolve(day: date, *layers: tuple[DatedRules, ...]) -> DistrictRules:
    """Each rule from the first layer (district, then county) that sets it on `day`; the default otherwise."""
    values = {}
    for name in RULE_NAMES:
        for layer in layers:
            entry = _latest(layer, name, day)
            if entry is not None:
                values[name] = getattr(entry.rules, name)
                break
    return replace(DistrictRules(), **values)


@dataclass(frozen=True)
class DistrictRegister:
    districts: dict[str, District]
    counties: dict[str, County] = field(default_factory=dict)
    areas: dict[str, str] = field(default_factory=dict)
    """Each commissioning area's code and name."""
    source: Path | None = None

    def district(self, code: str) -> District:
        """The district that has or had `code` (UnknownDistrict if the register never had it)."""
        if code not in self.districts:
            raise UnknownDistrict(f"unknown district; known districts: {', '.join(sorted(self.districts))}")
        return self.districts[code]

    def known(self, code: str) -> str:
        """`code` if the register has ever had it (retired codes included); UnknownDistrict if not."""
        return self.district(code).code

    def rules(self, code: str, on: date) -> DistrictRules:
        """District `code`'s rules in force on `on`: its own, else its county's, else the default."""
        district = self.district(code)
        county = self.counties.get(district.county) if district.county else None
        return _resolve(on, district.rules, county.rules if county else ())

    def in_force(self, code: str, on: date) -> District:
        """The district `code` if it is in force on `on`; DistrictNotInForce naming the district(s) in force
        then in its place (UnknownDistrict for a code never known)."""
        district = self.district(code)
        if district.in_force_on(on):
            return district
        if on < district.in_force_from:
            before = [d.code for d in self.districts.values() if code in d.successors]
            instead = self._in_force_of(before, on)
            raise DistrictNotInForce(
                f"district {code} is in force from {district.in_force_from.isoformat()}, not on {on.isoformat()}"
                + (f": on that day use {' or '.join(instead)}" if instead else ""))
        instead = self._in_force_of(list(district.successors), on)
        raise DistrictNotInForce(
            f"district {code} ({district.name}) ended on {district.in_force_until.isoformat()}"
            + (f" ({district.change})" if district.change else "")
            + (f": on {on.isoformat()} use {' or '.join(instead)}" if instead
               else f" and has no successor in force on {on.isoformat()}"))

    def _in_force_of(self, codes: list[str], on: date) -> list[str]:
        """Of `codes`, those in force on `on`, each ended one replaced by its own successors (or predecessors)."""
        found: list[str] = []
        seen: set[str] = set()
        while codes:
            code = codes.pop(0)
            if code in seen or code not in self.districts:
                continue
            seen.add(code)
            district = self.districts[code]
            if district.in_force_on(on):
                found.append(code)
            elif district.in_force_until is not None and on > district.in_force_until:
                codes.extend(district.successors)
            else:
                codes.extend(d.code for d in self.districts.values() if code in d.successors)
        return list(dict.fromkeys(found))

    def on(self, day: date) -> list[District]:
        """The districts in force on `day`, by code."""
        return [d for code, d in sorted(self.districts.items()) if d.in_force_on(day)]

    def names(self) -> dict[str, str]:
        """Every code the register has ever had, and its name."""
        return {code: district.name for code, district in self.districts.items()}

    @classmethod
    def read(cls, path: Path) -> DistrictRegister:
        """The register in the TOML file at `path`; DistrictRegisterInvalid (one line) if it cannot be used."""
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as error:
            raise DistrictRegisterInvalid(f"{path}: cannot be read ({type(error).__name__})") from None
        except UnicodeDecodeError:
            raise DistrictRegisterInvalid(f"{path}: is not UTF-8 text") from None
        except tomllib.TOMLDecodeError as error:
            raise DistrictRegisterInvalid(f"{path}: is not valid TOML ({error})") from None
        try:
            written = RegisterFile.model_validate(data)
        except ValidationError as error:
            first = error.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(part) for part in first["loc"])
            more = f" (and {error.error_count() - 1} more problems)" if error.error_count() > 1 else ""
            raise DistrictRegisterInvalid(f"{path}: {where}: {first['msg']}{more}") from None
        try:
            return written.register(path)
        except ValueError as error:
            raise DistrictRegisterInvalid(f"{path}: {error}") from None


# -- the file's shape ------------------------------------------------------------------------------------------------

Code = Annotated[str, StringConstraints(pattern=CODE_PATTERN, max_length=64)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


class _Written(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RuleEntry(_Written):
    effective_from: date = Field(alias="from")
    routes_needing_panel: list[PlacementRoute] | None = None

    def dated(self) -> DatedRules:
        given = {name for name in RULE_NAMES if getattr(self, name) is not None}
        values = {"routes_needing_panel": frozenset(self.routes_needing_panel)} if self.routes_needing_panel \
            is not None else {}
        return DatedRules(self.effective_from, DistrictRules(**values), frozenset(given))


class CountyEntry(_Written):
    name: Name
    rules: list[RuleEntry] = []


class AreaEntry(_Written):
    name: Name


class DistrictEntry(_Written):
    name: Name
    county: Code | None = None
    unitary: bool = False
    areas: list[Code] = []
    in_force_from: date = Field(alias="from")
    in_force_until: date | None = Field(None, alias="until")
    successors: list[Code] = []
    change: Change | None = None
    rules: list[RuleEntry] = []


class RegisterFile(_Written):
    counties: dict[Code, CountyEntry] = {}
    areas: dict[Code, AreaEntry] = {}
    districts: dict[Code, DistrictEntry] = Field(min_length=1)

    def register(self, source: Path | None = None) -> DistrictRegister:
        """The register this file describes; ValueError naming the first entry that does not fit the others."""
        for code, entry in self.districts.items():
            where = f"districts.{code}"
            if entry.unitary == (entry.county is not None):
                raise ValueError(f"{where}: give either county = \"<county>\" or unitary = true")
            if entry.county is not None and entry.county not in self.counties:
                raise ValueError(f"{where}.county: {entry.county} is not in [counties] "
                                 f"({', '.join(sorted(self.counties)) or 'none'})")
            for area in entry.areas:
                if area not in self.areas:
                    raise ValueError(f"{where}.areas: {area} is not in [areas] ({', '.join(sorted(self.areas))})")
            if entry.in_force_until is not None and entry.in_force_until < entry.in_force_from:
                raise ValueError(f"{where}: until {entry.in_force_until} is before from {entry.in_force_from}")
            if entry.successors and entry.in_force_until is None:
                raise ValueError(f"{where}: has successors but no until (the last day it was in force)")
            if entry.in_force_until is not None and not entry.successors and entry.change != "abolished":
                raise ValueError(f"{where}: ended on {entry.in_force_until} without successors "
                                 "(name them, or say change = \"abolished\")")
            for successor in entry.successors:
                following = self.districts.get(successor)
                if following is None:
                    raise ValueError(f"{where}.successors: {successor} is not in [districts]")
                day_after = date.fromordinal(entry.in_force_until.toordinal() + 1)
                if not (following.in_force_from <= day_after and
                        (following.in_force_until is None or day_after <= following.in_force_until)):
                    raise ValueError(f"{where}.successors: {successor} is not in force on {day_after}, the day "
                                     f"after {code} ended")
            _distinct_days(where, entry.rules)
        for code, county in self.counties.items():
            _distinct_days(f"counties.{code}", county.rules)

        def dated(rules: list[RuleEntry]) -> tuple[DatedRules, ...]:
            return tuple(sorted((r.dated() for r in rules), key=lambda r: r.effective_from))

        return DistrictRegister(
            districts={code: District(code, entry.name, dated(entry.rules), entry.county, tuple(entry.areas),
                                      entry.in_force_from, entry.in_force_until, tuple(entry.successors),
                                      entry.change)
                       for code, entry in self.districts.items()},
            counties={code: County(code, county.name, dated(county.rules)) for code, county in self.counties.items()},
            areas={code: area.name for code, area in self.areas.items()},
            source=source,
        )


def _distinct_days(where: str, rules: list[RuleEntry]) -> None:
    days = [rule.effective_from for rule in rules]
    for day in days:
        if days.count(day) > 1:
            raise ValueError(f"{where}.rules: two entries take effect on {day}: merge them")


# -- the register in force in this process ---------------------------------------------------------------------------

_in_force: DistrictRegister | None = None


def district_register() -> DistrictRegister:
    """The register in force in this process: the one `load_district_register` loaded at start (the shipped
    default if none was)."""
    return _in_force or shipped_district_register()


def use_district_register(register: DistrictRegister) -> DistrictRegister:
    """Make `register` the one in force in this process (what every check of a district reads); the previous one."""
    global _in_force
    previous, _in_force = district_register(), register
    return previous


@cache
def shipped_district_register() -> DistrictRegister:
    """The register casetrack ships (what the generated documents list), whichever is in force."""
    return DistrictRegister.read(DEFAULT_REGISTER)


def register_file(settings: Settings) -> Path:
    """The register file the settings name (`district_register_file`), or the shipped default."""
    return settings.district_register_file or DEFAULT_REGISTER


def load_district_register(settings: Settings) -> DistrictRegister:
    """Read the register the settings name and put it in force in this process (a composition root calls this
    at start); DistrictRegisterInvalid, one line naming the file and the problem, if it cannot be used."""
    register = DistrictRegister.read(register_file(settings))
    use_district_register(register)
    return register
