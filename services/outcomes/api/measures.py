"""Commissioners read the KPIs and tables (JSON, or CSV with `format=csv`), each for a period: a financial-year
quarter (`quarter=2013-14 Q2`) or two days (`first_day`, `last_day`, both included). `explain=true` adds the event
ids behind every count, so a published figure can be checked against the events. Definitions: services/outcomes/
kpis.py and the README's "Outcomes and KPIs"."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query

from services.outcomes import kpis
from services.outcomes.kpis import KPI1_SERVICES, KPI2_SERVICES, Period
from services.outcomes.projections import catalogue, mediation_sustained, returns
from shared.contracts.envelope import Day
from shared.web_tables import as_csv

from .deps import After, District, MeasuresReader, Rules, Runtime, Today

router = APIRouter(tags=["KPIs and tables"])

LONGEST_PERIOD_DAYS = 366 * 5
Format = Annotated[Literal["json", "csv"], Query(description="json (default) or csv")]
Explain = Annotated[bool, Query(description="Add the event ids behind every count (JSON only)")]
Provider = Annotated[UUID | None, Query(alias="provider", description="Only this provider's services")]


def period_of(quarter: str | None, first_day: Any, last_day: Any) -> Period:
    """The period asked for, or a 422 saying how to ask."""
    try:
        if quarter:
            return kpis.quarter(quarter)
        if first_day and last_day:
            period = Period(first_day, last_day)
            if (last_day - first_day).days > LONGEST_PERIOD_DAYS:
                raise ValueError(f"a period is at most {LONGEST_PERIOD_DAYS} days")
            return period
        raise ValueError("give quarter (e.g. '2013-14 Q2'), or first_day and last_day")
    except ValueError as error:
        raise HTTPException(422, [{"loc": ["query", "quarter"], "msg": str(error), "type": "period"}]) from None


Quarter = Annotated[str | None, Query(description="A financial-year quarter, e.g. '2013-14 Q2' (July-September 2013)")]
FirstDay = Annotated[Day | None, Query(description="The first day of the period (UTC), with last_day")]
LastDay = Annotated[Day | None, Query(description="The last day of the period (UTC, included)")]
By = Annotated[list[str], Query(description=f"Break down by any of: {', '.join(kpis.GROUPINGS)}")]




def _named(row: dict[str, Any], named: dict[str, str]) -> dict[str, Any]:
    """The row with the name of its scheme and provider beside their ids (where the catalogue knows them)."""
    extra = {f"{key}_name": named.get(row[key]) for key in ("scheme", "provider") if key in row}
    return {**{key: value for key, value in row.items() if key in kpis.GROUPINGS}, **extra,
            **{key: value for key, value in row.items() if key not in kpis.GROUPINGS}}


async def _kpi(which: str, runtime: Runtime, rules: Rules, caller: Any, district: str | None, quarter: str | None,
               first_day: Any, last_day: Any, by: list[str], provider: UUID | None, explain: bool, format: str,
               after: list[str] | None) -> Any:
    period = period_of(quarter, first_day, last_day)
    district = caller.district_filter(district)
    if unknown := [name for name in by if name not in kpis.GROUPINGS]:
        raise HTTPException(422, [{"loc": ["query", "by"], "type": "grouping",
                                   "msg": f"cannot break down by {', '.join(unknown)}: choose from "
                                          f"{', '.join(kpis.GROUPINGS)}"}])
    await runtime.wait_for_positions(after or [])
    measure = kpis.kpi1 if which == "kpi1" else kpis.kpi2
    async with runtime.pool.acquire() as conn:
        figures = await measure(conn, rules, period, by=by, district=district, provider_id=provider,
                                explain=explain and format == "json")
        named = await catalogue.names(conn) if {"scheme", "provider"} & set(by) else {}
    rows = [_named(figure.as_dict(), named) for figure in figures]
    if format == "csv":
        return as_csv(rows, which)
    return {"kpi": which, "period": period.label, "figures": rows}


@router.get("/kpi1")
async def get_kpi1(runtime: Runtime, rules: Rules, caller: MeasuresReader, district: District, quarter: Quarter = None,
                   first_day: FirstDay = None, last_day: LastDay = None, by: By = [],  # noqa: B006 - FastAPI's way
                   provider: Provider = None, explain: Explain = False, format: Format = "json",
                   after: After = None) -> Any:
    """KPI1, achieving or maintaining independence (long-term and floating support services): pooled first, then
    one figure per group of `by`; each with numerator, denominator, %, target and the exclusions by reason."""
    return await _kpi("kpi1", runtime, rules, caller, district, quarter, first_day, last_day, by, provider, explain,
                      format, after)


@router.get("/kpi2")
async def get_kpi2(runtime: Runtime, rules: Rules, caller: MeasuresReader, district: District, quarter: Quarter = None,
                   first_day: FirstDay = None, last_day: LastDay = None, by: By = [],  # noqa: B006 - FastAPI's way
                   provider: Provider = None, explain: Explain = False, format: Format = "json",
                   after: After = None) -> Any:
    """KPI2, planned move-ons from short-term services (accommodation-based and floating support): pooled first,
    then one figure per group of `by`; each with numerator, denominator, %, target and the exclusions by reason."""
    return await _kpi("kpi2", runtime, rules, caller, district, quarter, first_day, last_day, by, provider, explain,
                      format, after)


@router.get("/destinations")
async def get_destinations(runtime: Runtime, caller: MeasuresReader, district: District, quarter: Quarter = None,
                           first_day: FirstDay = None, last_day: LastDay = None,
                           kpi: Annotated[Literal["kpi1", "kpi2"], Query(
                               description="kpi2: short-term and floating support services (default); kpi1: "
                                           "long-term and floating support")] = "kpi2",
                           provider: Provider = None, explain: Explain = False, format: Format = "json",
                           after: After = None) -> Any:
    """Departures by destination, planned and unplanned, one row per destination with Kent's row label
    [004 Appendix 3]; `not_known` is also counted apart, as data quality."""
    period = period_of(quarter, first_day, last_day)
    district = caller.district_filter(district)
    await runtime.wait_for_positions(after or [])
    async with runtime.pool.acquire() as conn:
        table = await kpis.destinations(conn, period, services=KPI1_SERVICES if kpi == "kpi1" else KPI2_SERVICES,
                                        district=district, provider_id=provider, explain=explain and format == "json")
    if format == "csv":
        return as_csv([{"planned": section == "planned", **row} for section in ("planned", "unplanned")
                       for row in getattr(table, section)], "destinations")
    return asdict(table)


@router.get("/outcomes-table")
async def get_outcomes_table(runtime: Runtime, caller: MeasuresReader, district: District, quarter: Quarter = None,
                             first_day: FirstDay = None, last_day: LastDay = None, provider: Provider = None,
                             explain: Explain = False, format: Format = "json", after: After = None) -> Any:
    """The outcomes framework table [004 Appendix 4]: for each of the 19 outcomes, the young people who needed it
    and who achieved it, and the %; "not applicable" is out of the denominator; the overall rate is the sum
    achieved over the sum needed."""
    period = period_of(quarter, first_day, last_day)
    district = caller.district_filter(district)
    await runtime.wait_for_positions(after or [])
    async with runtime.pool.acquire() as conn:
        table = await kpis.outcomes_table(conn, period, district=district, provider_id=provider,
                                          explain=explain and format == "json")
    if format == "csv":
        return as_csv(table.rows, "outcomes")
    return asdict(table) | {"overall_percent": table.overall_percent}


@router.get("/returns")
async def get_returns(runtime: Runtime, rules: Rules, caller: MeasuresReader, district: District, today: Today,
                      quarter: Quarter = None, first_day: FirstDay = None, last_day: LastDay = None,
                      format: Format = "json", after: After = None) -> Any:
    """Returns (the revolving door): of the planned move-ons in the period, how many young people were referred
    again (the same person, linked cases included) within each window of the rule (6, 12, 24 months). A window not
    over yet is `not_yet_due`, out of the denominator; each return names its move-on and referral events."""
    period = period_of(quarter, first_day, last_day)
    district = caller.district_filter(district)
    await runtime.wait_for_positions(after or [])
    async with runtime.pool.acquire() as conn:
        table = await returns.returns_after_move_on(
            conn, first_day=period.first_day, last_day=period.last_day, today=today,
            within_months=rules.return_windows_on(period.last_day), district=district)
    if format == "csv":
        return as_csv([{key: value for key, value in asdict(row).items() if key != "returns"} for row in table.rows],
                      "returns")
    return asdict(table)


@router.get("/mediation-sustained")
async def get_mediation_sustained(runtime: Runtime, caller: MeasuresReader, district: District,
                                  quarter: Quarter = None, first_day: FirstDay = None, last_day: LastDay = None,
                                  format: Format = "json", after: After = None) -> Any:
    """Mediation sustained: of the young people who went home after mediation in the period, the share still at
    home at the 3 and the 6 month follow-ups (pooled counts; those not yet followed up counted apart)."""
    period = period_of(quarter, first_day, last_day)
    district = caller.district_filter(district)
    await runtime.wait_for_positions(after or [])
    async with runtime.pool.acquire() as conn:
        table = await mediation_sustained.mediation_sustained(conn, first_day=period.first_day,
                                                              last_day=period.last_day, district=district)
    if format == "csv":
        return as_csv([{key: value for key, value in asdict(row).items() if key != "follow_up_event_ids"}
                       for row in table.at], "mediation-sustained")
    return asdict(table)
