"""The commissioners' measures, computed from the outcomes read models (support_episodes, support_plans,
plan_outcomes) with the dated rules of rules.toml. Every figure pools counts (never averages percentages) and can be
explained down to the event ids it counted.

Definitions (the README's "Outcomes and KPIs" says the same):

- **KPI1, achieving or maintaining independence** (long-term and floating support services). Service users: the
  episodes of those services running at any time in the period. Numerator: those still supported at the end of the
  period whose independence was not last recorded (on or before that day) as `not_maintained`, and those who
  departed in the period to an independent destination (`independent_destinations` of the rule in force on the
  departure day). Denominator: every service user, less the departures the rule excludes (deaths), which are
  counted beside the figure with their reason. A user is counted once per service (per episode), as Kent counts.
- **KPI2, planned move-ons** (short-term and floating support services). Departures: episodes of those services
  that ended in the period, a move to another scheme included (a departure from the first service). Numerator: the
  planned ones; denominator: all of them; departures matching an exclusion of the rule in force on the day (deaths,
  stays under 28 days) are left out of both and counted beside the figure with their reason.
- **Destinations** (Appendix 3's layout): departures in the period from the services of one KPI, one row per
  planned/unplanned and destination, with Kent's row label; `not_known` is also counted apart, as data quality.
- **Outcomes** (Appendix 4's layout): for each of the 19 outcomes, the individuals (distinct young people) who
  needed it and who achieved it, among the episodes whose outcomes were recorded in the period: at departure for
  short-term and floating support services, at the latest review in the period for long-term ones. An outcome
  recorded `not_applicable` is out of its denominator. The overall rate is the sum achieved over the sum needed.

A period is a span of UTC days, both ends included; a financial-year quarter (`2013-14 Q2`: July to September
2013) is one.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from services.outcomes.rules import Departure, OutcomesRules
from shared.contracts.outcomes import FRAMEWORK, Independence, Outcome, OutcomeResult, ServiceType
from shared.contracts.placement_vocabulary import KENT_SHORT_TERM_ROWS, Destination

KPI1_SERVICES = (ServiceType.long_term, ServiceType.floating_support)
KPI2_SERVICES = (ServiceType.short_term, ServiceType.floating_support)
GROUPINGS = ("quarter", "service_type", "scheme", "provider", "district")
"""What a KPI can be broken down by (any combination; none: the pooled figure only)."""


# -- periods ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    first_day: date
    last_day: date

    def __post_init__(self) -> None:
        if self.last_day < self.first_day:
            raise ValueError(f"the period ends ({self.last_day}) before it begins ({self.first_day})")

    @property
    def label(self) -> str:
        return f"{self.first_day}..{self.last_day}"

    def quarters(self) -> list[tuple[str, Period]]:
        """The financial-year quarters the period touches, each cut to the period."""
        quarters, day = [], self.first_day
        while day <= self.last_day:
            label, quarter = quarter_of(day)
            quarters.append((label, Period(max(quarter.first_day, self.first_day),
                                           min(quarter.last_day, self.last_day))))
            day = quarter.last_day + timedelta(days=1)
        return quarters


QUARTER = re.compile(r"^(?P<year>\d{4})-(?P<next>\d{2}) Q(?P<quarter>[1-4])$")


def quarter(text: str) -> Period:
    """A financial-year quarter, written as Kent writes it: `2013-14 Q2` is July to September 2013."""
    match = QUARTER.match(text.strip())
    if not match or (int(match["year"]) + 1) % 100 != int(match["next"]):
        raise ValueError(f"{text!r} is not a financial-year quarter such as '2013-14 Q2'")
    year, number = int(match["year"]), int(match["quarter"])
    first_month = 4 + 3 * (number - 1)
    first = date(year + (first_month - 1) // 12, (first_month - 1) % 12 + 1, 1)
    after = date(first.year + (first.month + 2) // 12, (first.month + 2) % 12 + 1, 1)
    return Period(first, after - timedelta(days=1))


def quarter_of(day: date) -> tuple[str, Period]:
    year = day.year if day.month >= 4 else day.year - 1
    label = f"{year}-{(year + 1) % 100:02d} Q{((day.month - 4) % 12) // 3 + 1}"
    return label, quarter(label)


def day_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


# -- the figures ------------------------------------------------------------------------------------


@dataclass
class KpiFigure:
    """One KPI figure for one group: pooled counts, the percent, the target, and what was excluded and why."""

    group: dict[str, str]
    numerator: int = 0
    denominator: int = 0
    target_percent: float | None = None
    excluded: dict[str, int] = field(default_factory=dict)
    explanation: dict[str, Any] | None = None

    @property
    def percent(self) -> float | None:
        return round(100 * self.numerator / self.denominator, 1) if self.denominator else None

    @property
    def met_target(self) -> bool | None:
        return None if self.percent is None or self.target_percent is None else self.percent >= self.target_percent

    def as_dict(self) -> dict[str, Any]:
        body = {**self.group, "numerator": self.numerator, "denominator": self.denominator, "percent": self.percent,
                "target_percent": self.target_percent, "met_target": self.met_target,
                "excluded": sum(self.excluded.values()), "excluded_by_reason": dict(sorted(self.excluded.items()))}
        return body | ({"explanation": self.explanation} if self.explanation is not None else {})


@dataclass
class _Tally:
    """A figure being counted, with the event ids behind it."""

    numerator: list[str] = field(default_factory=list)
    denominator: list[str] = field(default_factory=list)
    excluded: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def figure(self, group: dict[str, str], target: float, explain: bool) -> KpiFigure:
        return KpiFigure(
            group=group, numerator=len(self.numerator), denominator=len(self.denominator), target_percent=target,
            excluded={reason: len(ids) for reason, ids in self.excluded.items()},
            explanation={"numerator": self.numerator, "denominator": self.denominator,
                         "excluded": dict(self.excluded)} if explain else None)


def _groups(row: Any, by: Sequence[str], quarter_label: str) -> dict[str, str]:
    values = {"quarter": quarter_label, "service_type": row["service_type"], "scheme": str(row["scheme_id"]),
              "provider": str(row["provider_id"]), "district": row["district"]}
    return {name: values[name] for name in by}


def _check_by(by: Sequence[str]) -> None:
    if unknown := [name for name in by if name not in GROUPINGS]:
        raise ValueError(f"cannot break a KPI down by {', '.join(unknown)}: choose from {', '.join(GROUPINGS)}")


async def kpi2(conn: asyncpg.Connection, rules: OutcomesRules, period: Period, *, by: Sequence[str] = (),
               district: str | None = None, provider_id: Any = None, explain: bool = False,
               schema: str = "outcomes") -> list[KpiFigure]:
    """KPI2 per group (and pooled, first, with an empty group); see the module's definition."""
    _check_by(by)
    rows = await _departures(conn, period, KPI2_SERVICES, district, provider_id, schema)
    pooled, groups = _Tally(), defaultdict(_Tally)
    for row in rows:
        departed = day_of(row["ended_at"])
        rule = rules.kpi2_on(departed)
        tallies = (pooled, groups[tuple(_groups(row, by, quarter_of(departed)[0]).items())])
        event_id = str(row["departure_event_id"])
        reason = rule.exclusion_of(_departure(row))
        for tally in tallies:
            if reason:
                tally.excluded[reason].append(event_id)
                continue
            tally.denominator.append(event_id)
            if row["planned"]:
                tally.numerator.append(event_id)
    target = rules.kpi2_on(period.last_day).target_percent
    return _figures(pooled, groups, by, target, explain)


async def kpi1(conn: asyncpg.Connection, rules: OutcomesRules, period: Period, *, by: Sequence[str] = (),
               district: str | None = None, provider_id: Any = None, explain: bool = False,
               schema: str = "outcomes") -> list[KpiFigure]:
    """KPI1 per group (and pooled, first); see the module's definition. By quarter, each quarter of the period is
    counted on its own (its users, its end)."""
    _check_by(by)
    spans = period.quarters() if "quarter" in by else [("", period)]
    pooled, groups = _Tally(), defaultdict(_Tally)
    for label, span in spans:
        for row in await _users(conn, span, district, provider_id, schema):
            tallies = [groups[tuple(_groups(row, by, label).items())]]
            if len(spans) == 1:
                tallies.append(pooled)
            _count_user(row, span, rules, tallies)
    if len(spans) > 1:  # the pooled figure of a longer period counts its users once
        for row in await _users(conn, period, district, provider_id, schema):
            _count_user(row, period, rules, [pooled])
    target = rules.kpi1_on(period.last_day).target_percent
    return _figures(pooled, groups, by, target, explain)


def _count_user(row: Any, span: Period, rules: OutcomesRules, tallies: Iterable[_Tally]) -> None:
    departed = row["ended_at"] is not None and day_of(row["ended_at"]) <= span.last_day
    if departed:
        rule = rules.kpi1_on(day_of(row["ended_at"]))
        event_id = str(row["departure_event_id"])
        reason = rule.exclusion_of(_departure(row))
        independent = Destination(row["destination"]) in rule.independent_destinations
    else:
        event_id, reason = str(row["episode_id"]), None
        independent = row["independence"] != Independence.not_maintained.value
    for tally in tallies:
        if reason:
            tally.excluded[reason].append(event_id)
            continue
        tally.denominator.append(event_id)
        if independent:
            tally.numerator.append(event_id)


def _figures(pooled: _Tally, groups: dict, by: Sequence[str], target: float, explain: bool) -> list[KpiFigure]:
    figures = [pooled.figure({}, target, explain)]
    if by:
        figures += [tally.figure(dict(key), target, explain) for key, tally in sorted(groups.items())]
    return figures


def _departure(row: Any) -> Departure:
    return Departure(planned=bool(row["planned"]), destination=Destination(row["destination"]),
                     days_in_scheme=row["days_in_scheme"] or 0)


async def _departures(conn: asyncpg.Connection, period: Period, services: Sequence[ServiceType],
                      district: str | None, provider_id: Any, schema: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT * FROM {schema}.support_episodes WHERE service_type = ANY($1::text[])"
        " AND ended_at >= $2 AND ended_at < $3 AND ($4::text IS NULL OR district = $4)"
        " AND ($5::uuid IS NULL OR provider_id = $5) ORDER BY ended_at, episode_id",
        [s.value for s in services], _start(period.first_day), _start(period.last_day + timedelta(days=1)),
        district, provider_id)


async def _users(conn: asyncpg.Connection, period: Period, district: str | None, provider_id: Any,
                 schema: str) -> list[asyncpg.Record]:
    """KPI1's service users in the period, each with the independence last recorded by the period's end."""
    end = _start(period.last_day + timedelta(days=1))
    return await conn.fetch(
        "SELECT e.*, CASE WHEN p.independence_at < $3 THEN p.independence END AS independence"
        f" FROM {schema}.support_episodes e LEFT JOIN {schema}.support_plans p USING (episode_id)"
        " WHERE e.service_type = ANY($1::text[]) AND e.started_at < $3 AND (e.ended_at IS NULL OR e.ended_at >= $2)"
        " AND ($4::text IS NULL OR e.district = $4) AND ($5::uuid IS NULL OR e.provider_id = $5)"
        " ORDER BY e.started_at, e.episode_id",
        [s.value for s in KPI1_SERVICES], _start(period.first_day), end, district, provider_id)


def _start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


# -- destinations (Appendix 3) ----------------------------------------------------------------------


@dataclass
class DestinationsTable:
    period: str
    services: list[str]
    planned: list[dict[str, Any]]
    unplanned: list[dict[str, Any]]
    planned_total: int
    unplanned_total: int
    not_known: int
    """Departures whose destination is not known: a data-quality measure, never hidden in `other`."""


async def destinations(conn: asyncpg.Connection, period: Period, *, services: Sequence[ServiceType] = KPI2_SERVICES,
                       district: str | None = None, provider_id: Any = None, explain: bool = False,
                       schema: str = "outcomes") -> DestinationsTable:
    rows = await _departures(conn, period, services, district, provider_id, schema)
    counted: dict[tuple[bool, str], list[str]] = defaultdict(list)
    for row in rows:
        counted[(bool(row["planned"]), row["destination"])].append(str(row["departure_event_id"]))
    sections: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    for (planned, destination), ids in sorted(counted.items(), key=lambda item: (-len(item[1]), item[0][1])):
        label = KENT_SHORT_TERM_ROWS.get((planned, Destination(destination)), destination)
        sections[planned].append({"destination": destination, "kent_row": label, "departures": len(ids)}
                                 | ({"event_ids": ids} if explain else {}))
    return DestinationsTable(
        period=period.label, services=[s.value for s in services], planned=sections[True], unplanned=sections[False],
        planned_total=sum(row["departures"] for row in sections[True]),
        unplanned_total=sum(row["departures"] for row in sections[False]),
        not_known=sum(1 for row in rows if row["destination"] == Destination.not_known.value))


# -- outcomes (Appendix 4) --------------------------------------------------------------------------


@dataclass
class OutcomesTable:
    period: str
    individuals: int
    rows: list[dict[str, Any]]
    needed: int
    achieved: int

    @property
    def overall_percent(self) -> float | None:
        return round(100 * self.achieved / self.needed, 1) if self.needed else None


async def outcomes_table(conn: asyncpg.Connection, period: Period, *, district: str | None = None,
                         provider_id: Any = None, service_types: Sequence[ServiceType] = tuple(ServiceType),
                         explain: bool = False, schema: str = "outcomes") -> OutcomesTable:
    """See the module's definition. Short-term and floating support services' results are those recorded at
    departure; long-term services' those of the latest review in the period."""
    start, end = _start(period.first_day), _start(period.last_day + timedelta(days=1))
    rows = await conn.fetch(
        "SELECT p.person_ref, o.outcome, o.result, o.result_event_id"
        f" FROM {schema}.plan_outcomes o JOIN {schema}.support_plans p USING (episode_id)"
        " WHERE p.service_type = ANY($5::text[]) AND o.result IS NOT NULL"
        " AND ($3::text IS NULL OR p.district = $3) AND ($4::uuid IS NULL OR p.provider_id = $4) AND ("
        "  (p.service_type <> 'long_term' AND o.result_kind = 'departure'"
        "   AND p.departed_at >= $1 AND p.departed_at < $2)"
        "  OR (p.service_type = 'long_term' AND o.result_at >= $1 AND o.result_at < $2))",
        start, end, district, provider_id, [s.value for s in service_types])
    needed: dict[str, set] = defaultdict(set)
    achieved: dict[str, set] = defaultdict(set)
    not_applicable: dict[str, set] = defaultdict(set)
    events: dict[str, list[str]] = defaultdict(list)
    people = set()
    for row in rows:
        people.add(row["person_ref"])
        events[row["outcome"]].append(str(row["result_event_id"]))
        if row["result"] == OutcomeResult.not_applicable.value:
            not_applicable[row["outcome"]].add(row["person_ref"])
            continue
        needed[row["outcome"]].add(row["person_ref"])
        if row["result"] == OutcomeResult.achieved.value:
            achieved[row["outcome"]].add(row["person_ref"])
    table = []
    for outcome in Outcome:
        domain, label = FRAMEWORK[outcome]
        n, a = len(needed[outcome.value]), len(achieved[outcome.value] & needed[outcome.value])
        table.append({"domain": domain.value, "domain_label": domain.label, "outcome": outcome.value,
                      "label": label, "needed": n, "achieved": a,
                      "percent": round(100 * a / n) if n else None,
                      "not_applicable": len(not_applicable[outcome.value] - needed[outcome.value])}
                     | ({"event_ids": sorted(set(events[outcome.value]))} if explain else {}))
    return OutcomesTable(period=period.label, individuals=len(people), rows=table,
                         needed=sum(row["needed"] for row in table), achieved=sum(row["achieved"] for row in table))
