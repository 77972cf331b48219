"""The commissioners' rules the outcomes service measures by, read from dated configuration (`rules.toml` beside
this module, or the file `CASETRACK_OUTCOMES_RULES_FILE` names): which provision types are short-term, long-term or
floating support services, KPI targets, which departures count as independent, which are excluded from a KPI and
why, and the windows a return is counted in. Read once when the service starts."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from shared.contracts.outcomes import ServiceType
from shared.contracts.placement_vocabulary import Destination, ProvisionType
from shared.settings import Settings

OUTCOMES_RULES = Path(__file__).parent / "rules.toml"


@dataclass(frozen=True)
class Departure:
    """What a KPI rule looks at in a departure."""

    planned: bool
    destination: Destination
    days_in_scheme: int


@dataclass(frozen=True)
class Exclusion:
    """Departures left out of a KPI, named by `reason`: those to one of `destinations`, or (and) of stays shorter
    than `stays_under_days`, optionally only planned or only unplanned ones."""

    reason: str
    destinations: frozenset[Destination] = frozenset()
    stays_under_days: int | None = None
    planned: bool | None = None

    def excludes(self, departure: Departure) -> bool:
        if self.planned is not None and departure.planned is not self.planned:
            return False
        if self.destinations and departure.destination not in self.destinations:
            return False
        return self.stays_under_days is None or departure.days_in_scheme < self.stays_under_days


@dataclass(frozen=True)
class KpiRule:
    """One dated entry of a KPI's rule."""

    since: date
    target_percent: float
    exclusions: tuple[Exclusion, ...] = ()
    independent_destinations: frozenset[Destination] = frozenset()

    def exclusion_of(self, departure: Departure) -> str | None:
        """The reason the departure is left out of the KPI, if it is (the first rule that matches)."""
        return next((rule.reason for rule in self.exclusions if rule.excludes(departure)), None)


@dataclass(frozen=True)
class ServiceTypeRule:
    since: date
    long_term: frozenset[ProvisionType]
    floating_support: frozenset[ProvisionType]

    def service_type(self, provision_type: ProvisionType) -> ServiceType:
        if provision_type in self.floating_support:
            return ServiceType.floating_support
        if provision_type in self.long_term:
            return ServiceType.long_term
        return ServiceType.short_term


@dataclass(frozen=True)
class ReturnRule:
    since: date
    within_months: tuple[int, ...]


@dataclass(frozen=True)
class OutcomesRules:
    """Every dated rule, each a list of entries sorted by the day it came into force."""

    service_types: tuple[ServiceTypeRule, ...]
    kpi1: tuple[KpiRule, ...]
    kpi2: tuple[KpiRule, ...]
    returns: tuple[ReturnRule, ...]

    def service_type(self, provision_type: ProvisionType, on: date) -> ServiceType:
        return _in_force(self.service_types, on, "service_types").service_type(provision_type)

    def kpi1_on(self, on: date) -> KpiRule:
        return _in_force(self.kpi1, on, "kpi1")

    def kpi2_on(self, on: date) -> KpiRule:
        return _in_force(self.kpi2, on, "kpi2")

    def return_windows_on(self, on: date) -> tuple[int, ...]:
        return _in_force(self.returns, on, "returns").within_months


Rule = TypeVar("Rule", ServiceTypeRule, KpiRule, ReturnRule)


class NoRuleInForce(ValueError):
    """The rules file has no entry in force on the day asked about."""


def _in_force(entries: Sequence[Rule], on: date, name: str) -> Rule:
    current = [entry for entry in entries if entry.since <= on]
    if not current:
        raise NoRuleInForce(f"no {name} rule is in force on {on} (the first is from "
                            f"{entries[0].since if entries else 'never'})")
    return current[-1]


def load_outcomes_rules(path: Path = OUTCOMES_RULES) -> OutcomesRules:
    """The rules in the file at `path`; a ValueError naming what is wrong with it."""
    try:
        data = tomllib.loads(path.read_text())
        return OutcomesRules(
            service_types=_sorted(ServiceTypeRule(
                _day(entry["from"]), _provision_types(entry.get("long_term", ())),
                _provision_types(entry.get("floating_support", ()))) for entry in data.get("service_types", [])),
            kpi1=_sorted(_kpi_rule(entry) for entry in data.get("kpi1", [])),
            kpi2=_sorted(_kpi_rule(entry) for entry in data.get("kpi2", [])),
            returns=_sorted(ReturnRule(_day(entry["from"]), tuple(sorted(int(m) for m in entry["within_months"])))
                            for entry in data.get("returns", [])),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: {type(error).__name__}: {error}") from None


def outcomes_rules(settings: Settings) -> OutcomesRules:
    """The rules of the file the settings name, or of the shipped one."""
    return load_outcomes_rules(settings.outcomes_rules_file or OUTCOMES_RULES)


def _kpi_rule(entry: dict[str, Any]) -> KpiRule:
    return KpiRule(
        since=_day(entry["from"]), target_percent=float(entry["target_percent"]),
        exclusions=tuple(_exclusion(rule) for rule in entry.get("exclusions", ())),
        independent_destinations=frozenset(Destination(d) for d in entry.get("independent_destinations", ())))


EXCLUSION_KEYS = {"reason", "destinations", "stays_under_days", "planned"}


def _exclusion(rule: dict[str, Any]) -> Exclusion:
    """One exclusion, checked whole: a misspelt key or a value of the wrong kind would otherwise leave every
    departure out of the KPI, or none, without a word."""
    if unknown := sorted(set(rule) - EXCLUSION_KEYS):
        raise ValueError(f"exclusion {rule.get('reason')!r} has unknown keys {unknown}: use {sorted(EXCLUSION_KEYS)}")
    stays, planned = rule.get("stays_under_days"), rule.get("planned")
    if stays is not None and (isinstance(stays, bool) or not isinstance(stays, int) or stays < 1):
        raise ValueError(f"exclusion {rule.get('reason')!r}: stays_under_days is a whole number of days, not {stays!r}")
    if planned is not None and not isinstance(planned, bool):
        raise ValueError(f"exclusion {rule.get('reason')!r}: planned is true or false, not {planned!r}")
    exclusion = Exclusion(reason=str(rule["reason"]),
                          destinations=frozenset(Destination(d) for d in rule.get("destinations", ())),
                          stays_under_days=stays, planned=planned)
    if not exclusion.destinations and stays is None:
        raise ValueError(f"exclusion {exclusion.reason!r} names no destinations and no stays_under_days: it would "
                         "leave every departure out")
    return exclusion


def _sorted(entries: Any) -> tuple[Any, ...]:
    return tuple(sorted(entries, key=lambda entry: entry.since))


def _provision_types(names: Any) -> frozenset[ProvisionType]:
    return frozenset(ProvisionType(name) for name in names)


def _day(value: object) -> date:
    if isinstance(value, datetime):
        raise ValueError(f"'from' is a day (2013-04-01), not a moment ({value.isoformat()})")
    return value if isinstance(value, date) else date.fromisoformat(str(value))
