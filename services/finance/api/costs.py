"""Commissioners and finance officers read what the money bought: costs, voids, spend by funding stream, unit
costs, stays no contract covers, and the forecast table (JSON, or CSV with `format=csv`). Definitions:
services/finance/reports.py. A period is two days (UTC, both included), at most five years apart."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query

from services.finance import reports
from services.finance.cost_run import run_costs
from shared.auth import Role, requires
from shared.contracts.envelope import Day
from shared.service import After
from shared.web import District, Runtime, Today
from shared.web_tables import as_csv

router = APIRouter(tags=["costs"])

CostReader = requires(Role.commissioner, Role.finance_officer, Role.analyst, Role.auditor, Role.admin)
"""Reads costs and the forecast: aggregates, never who the young people are."""
LONGEST_PERIOD_DAYS = 366 * 5
FirstDay = Annotated[Day, Query(description="The first day of the period (UTC)")]
LastDay = Annotated[Day, Query(description="The last day of the period (UTC, included)")]
Format = Annotated[Literal["json", "csv"], Query(description="json (default) or csv")]
UnitCostsBy = Annotated[Literal["provision_type", "scheme"], Query(description="By provision type or scheme")]


def _period(first_day: date, last_day: date) -> None:
    if last_day < first_day or (last_day - first_day).days > LONGEST_PERIOD_DAYS:
        raise HTTPException(422, [{"loc": ["query", "last_day"], "type": "period",
                                   "msg": f"last_day is on or after first_day, at most {LONGEST_PERIOD_DAYS} days on"}])


async def _ledger(runtime: Runtime, first_day: date, last_day: date, district: str | None,
                  after: list[str] | None) -> reports.Ledger:
    _period(first_day, last_day)
    await runtime.wait_for_positions(after or [])
    async with runtime.pool.acquire() as conn:
        return await reports.ledger(conn, first_day, last_day, district=district)


@router.get("/costs")
async def get_costs(runtime: Runtime, _: CostReader, district: District, first_day: FirstDay, last_day: LastDay,
                    by: Annotated[str | None, Query(description=f"One of {', '.join(reports.BREAKDOWNS)}")] = None,
                    format: Format = "json", after: After = None) -> Any:
    """Cost accrued in the period (pence): each stay's nights at the price in force that night, by rent, service
    charge and support, by funding stream; support held back for payment by results; nights no contract covers
    (unfunded: counted, never costed at zero silently)."""
    if by is not None and by not in reports.BREAKDOWNS:
        raise HTTPException(422, [{"loc": ["query", "by"], "type": "breakdown",
                                   "msg": f"break costs down by one of {', '.join(reports.BREAKDOWNS)}"}])
    costs = reports.costs(await _ledger(runtime, first_day, last_day, district, after), by)
    if format == "csv":
        return as_csv(costs.rows or [{k: v for k, v in asdict(costs).items() if k != "rows"}], "costs")
    return asdict(costs)


@router.get("/void-costs")
async def get_void_costs(runtime: Runtime, _: CostReader, first_day: FirstDay, last_day: LastDay,
                         format: Format = "json", after: After = None) -> Any:
    """Each block contract over the period: its value whatever the occupancy, its occupied and void unit-days, and
    what the voids cost."""
    rows = [asdict(block) for block in reports.block_costs(await _ledger(runtime, first_day, last_day, None, after))]
    return as_csv(rows, "void-costs") if format == "csv" else rows


@router.get("/spend-by-funding-stream")
async def get_spend_by_funding_stream(runtime: Runtime, _: CostReader, district: District, first_day: FirstDay,
                                      last_day: LastDay, format: Format = "json", after: After = None) -> Any:
    """Pence each funding stream paid in the period: the stays' shares, and each block's voids by its shares."""
    spend = reports.spend_by_stream(await _ledger(runtime, first_day, last_day, district, after))
    rows = [{"stream": stream, "pence": pence} for stream, pence in spend.items()]
    return as_csv(rows, "spend-by-funding-stream") if format == "csv" else rows


@router.get("/unit-costs")
async def get_unit_costs(runtime: Runtime, _: CostReader, district: District, first_day: FirstDay,
                         last_day: LastDay, by: UnitCostsBy = "provision_type", format: Format = "json",
                         after: After = None) -> Any:
    """Cost per person per week, the whole revenue package and support only side by side (and per support hour
    where support is paid by the hour), by provision type or scheme: comparable across schemes."""
    rows = reports.unit_costs(await _ledger(runtime, first_day, last_day, district, after), by)
    return as_csv(rows, "unit-costs") if format == "csv" else rows


@router.get("/unfunded-stays")
async def get_unfunded_stays(runtime: Runtime, _: CostReader, district: District, first_day: FirstDay,
                             last_day: LastDay, format: Format = "json", after: After = None) -> Any:
    """Stays with nights no contract covers, and how many: flagged, never costed at zero silently."""
    rows = reports.unfunded_stays(await _ledger(runtime, first_day, last_day, district, after))
    return as_csv(rows, "unfunded-stays") if format == "csv" else rows


@router.get("/forecast")
async def get_forecast(runtime: Runtime, _: CostReader, today: Today,
                       financial_year: Annotated[int, Query(ge=2000, le=2100, description="2013 for 2013-14")],
                       format: Format = "json", after: After = None) -> Any:
    """Kent's forecast table for the financial year: per service type the budget, the forecast outturn (actual to
    date + committed to the year end from live stays and block contracts), the variance, the budgeted capacity
    units and the usage of block units; then the total."""
    await runtime.wait_for_positions(after or [])
    async with runtime.pool.acquire() as conn:
        table = await reports.forecast(conn, financial_year, today)
    if format == "csv":
        return as_csv([*table["rows"], {"service_type": "total", **table["total"]}], "forecast")
    return table


CostRunner = requires(Role.finance_officer, Role.admin)


@router.post("/cost-run")
async def run_the_costs(runtime: Runtime, _: CostRunner,
                        through: Annotated[Day | None, Query(description="The last day costed; default: the end of "
                                                                         "last month")] = None,
                        since: Annotated[Day | None, Query(description="Recost from this day's month; default: from "
                                                                       "the first stay")] = None,
                        after: After = None) -> dict[str, Any]:
    """Publish each stay's cost per month up to `through` as CostAccrued events (new or changed months only; the
    service also does this every hour for the months that have ended)."""
    await runtime.wait_for_positions(after or [])
    recorded, position = await run_costs(runtime, through, since)
    return {"published": recorded, "position": f"finance:{position}"}
