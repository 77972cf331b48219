"""What the commissioners and finance officers read: the finance read models put through the costing arithmetic
(costing.py). Every figure is pence.

- **Costs**: the accruals of every stay with a night in the period, totalled and broken down (by funding stream,
  part of the package, scheme, contract, district, service type or month); nights no contract covers are never
  costed at zero silently: they are counted as unfunded, stay by stay.
- **Void cost**: each block contract's value over the period, its occupied and empty (void) unit-days, and what
  the voids cost.
- **Spend by funding stream**: the accruals' streams, plus each block's void cost split by its funding shares.
- **Unit cost**: per person per week, the whole package and support only side by side, by provision type (or
  scheme), so schemes are comparable [000 slide 22].
- **Forecast** (Kent's 2013-14 forecast table [004]): per service type, the budget for the financial year, the
  forecast outturn (actual to date + committed to the year end from live stays and block contracts), the variance,
  the budgeted capacity units and the usage of block units to date; and a row for individual service funds (spent
  to date, and the balance of funds still running, committed).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from services.finance import costing
from services.finance.costing import Accrual, Contract, Stay
from services.finance.projections.contracts import (
    achieved_outcomes,
    contracts_in_force,
    fund_balances,
    fund_spending,
)
from services.finance.projections.stays import stays_between
from shared.contracts.outcomes import ServiceType

FUNDS = "individual_service_funds"
"""The forecast's row of money held in individual service funds: spent to date, and still unspent (committed)."""
BREAKDOWNS = ("stream", "part", "scheme", "contract", "district", "service_type", "month")


@dataclass
class Ledger:
    """The stays and contracts of a period, and the stays whose payment-by-results outcome was achieved."""

    first_day: date
    last_day: date
    stays: list[Stay]
    rows: dict[UUID, Any]
    contracts: list[Contract]
    released: frozenset[UUID]
    fund_spending: list[Any] = field(default_factory=list)
    """Money spent from individual service funds in the period (each with its fund's stream)."""

    def accruals(self) -> list[Accrual]:
        return costing.accrue(self.stays, self.contracts, self.first_day, self.last_day, released=self.released)


async def ledger(conn: asyncpg.Connection, first_day: date, last_day: date, *, district: str | None = None,
                 case_id: UUID | None = None, schema: str = "finance") -> Ledger:
    rows = await stays_between(conn, first_day, last_day, district=district, case_id=case_id, schema=schema)
    stays = [stay_of(row) for row in rows]
    contracts = await contracts_in_force(conn, schema)
    achieved = await achieved_outcomes(conn, [stay.stay_id for stay in stays], schema)
    released = set()
    for stay in stays:
        last_night = (stay.until - timedelta(days=1)) if stay.until else last_day
        contract = costing.contract_covering(contracts, stay.scheme_id, max(stay.first_night, last_night))
        if contract and contract.payment_by_results and \
                contract.payment_by_results.outcome.value in achieved.get(stay.stay_id, ()):
            released.add(stay.stay_id)
    spending = [] if case_id else await fund_spending(conn, first_day, last_day, district, schema)
    return Ledger(first_day, last_day, stays, {row["stay_id"]: row for row in rows}, contracts, frozenset(released),
                  spending)


def stay_of(row: Any) -> Stay:
    return Stay(stay_id=row["stay_id"], case_id=row["case_id"], person_ref=row["person_ref"], district=row["district"],
                placement_id=row["placement_id"] or row["floating_support_id"], scheme_id=row["scheme_id"],
                first_night=row["first_night"], until=row["until"], kind=row["kind"],
                hours_delivered=row["hours_delivered"])


# -- costs ------------------------------------------------------------------------------------------


@dataclass
class Costs:
    first_day: date
    last_day: date
    pence: int
    rent: int
    service_charge: int
    support: int
    held_back: int
    unfunded_nights: int
    rows: list[dict[str, Any]] = field(default_factory=list)


def costs(book: Ledger, by: str | None = None) -> Costs:
    """Every accrual of the period, totalled; broken down `by` one of BREAKDOWNS."""
    accruals = book.accruals()
    contracts = {contract.contract_id: contract for contract in book.contracts}
    total = Costs(book.first_day, book.last_day, pence=sum(a.cost.whole for a in accruals),
                  rent=sum(a.cost.rent for a in accruals), service_charge=sum(a.cost.service_charge for a in accruals),
                  support=sum(a.cost.support for a in accruals), held_back=sum(a.held_back for a in accruals),
                  unfunded_nights=sum(a.unfunded_days for a in accruals))
    if by == "stream":
        streams: Counter[str] = Counter()
        for accrual in accruals:
            streams.update({stream.value: pence for stream, pence in accrual.cost.by_stream.items()})
        total.rows = [{"stream": stream, "pence": pence} for stream, pence in sorted(streams.items())]
    elif by == "part":
        total.rows = [{"part": part, "pence": getattr(total, part)} for part in ("rent", "service_charge", "support")]
    elif by:
        def key(accrual: Accrual) -> str:
            contract = contracts.get(accrual.contract_id) if accrual.contract_id else None
            return {"scheme": str(accrual.scheme_id), "contract": str(accrual.contract_id or "unfunded"),
                    "district": accrual.district, "month": accrual.month.isoformat(),
                    "service_type": contract.service_type.value if contract else "unfunded"}[by]
        groups: dict[str, list[Accrual]] = defaultdict(list)
        for accrual in accruals:
            groups[key(accrual)].append(accrual)
        total.rows = [{by: name, "pence": sum(a.cost.whole for a in group),
                       "support": sum(a.cost.support for a in group), "held_back": sum(a.held_back for a in group),
                       "days": sum(a.days for a in group), "unfunded_nights": sum(a.unfunded_days for a in group)}
                      for name, group in sorted(groups.items())]
    return total


def unfunded_stays(book: Ledger) -> list[dict[str, Any]]:
    """The stays with nights no contract covers (never costed at zero silently), with those nights."""
    nights: Counter[UUID] = Counter()
    for accrual in book.accruals():
        nights[accrual.stay_id] += accrual.unfunded_days
    return [{"stay_id": str(stay_id), "scheme_id": str(book.rows[stay_id]["scheme_id"]),
             "provision_type": book.rows[stay_id]["provision_type"], "district": book.rows[stay_id]["district"],
             "case_id": str(book.rows[stay_id]["case_id"]), "unfunded_nights": count}
            for stay_id, count in sorted(nights.items(), key=lambda item: str(item[0])) if count]


# -- blocks and voids -------------------------------------------------------------------------------


def block_costs(book: Ledger, accruals: Iterable[Accrual] | None = None) -> list[costing.BlockCost]:
    """Each block contract over the period: its value whatever the occupancy, and its voids."""
    occupied: Counter[UUID] = Counter()
    for accrual in accruals if accruals is not None else book.accruals():
        if accrual.contract_id:
            occupied[accrual.contract_id] += accrual.days
    return [costing.block_cost(contract, book.first_day, book.last_day, occupied[contract.contract_id])
            for contract in book.contracts if contract.procurement.is_block
            and contract.days_within(book.first_day, book.last_day)]


def spend_by_stream(book: Ledger) -> dict[str, int]:
    """Pence per funding stream: the accruals' shares, each block's voids split by its shares, and the individual
    service funds' spending."""
    accruals = book.accruals()
    streams: Counter[str] = Counter()
    for accrual in accruals:
        streams.update({stream.value: pence for stream, pence in accrual.cost.by_stream.items()})
    contracts = {contract.contract_id: contract for contract in book.contracts}
    for block in block_costs(book, accruals):
        shares = contracts[block.contract_id].funding_on(book.last_day)
        streams.update({stream.value: pence for stream, pence in costing.split(block.void_cost, shares).items()})
    for spent in book.fund_spending:
        streams[spent["stream"]] += spent["amount"]
    return dict(sorted(streams.items()))


def unit_costs(book: Ledger, by: str = "provision_type") -> list[dict[str, Any]]:
    """Per person per week, whole package and support only, side by side."""
    def key(accrual: Accrual) -> str:
        return str(book.rows[accrual.stay_id]["provision_type" if by == "provision_type" else "scheme_id"])
    found = costing.unit_cost_per_week(book.accruals(), by=key)
    return [{by: name, "people": cost.people, "person_days": cost.days, "whole_per_week": cost.whole_per_week,
             "support_per_week": cost.support_per_week, "support_per_hour": cost.support_per_hour,
             "pence": cost.whole} for name, cost in sorted(found.items())]


# -- the forecast -----------------------------------------------------------------------------------


def financial_year(year: int) -> tuple[date, date]:
    """April to March: 2013 is 2013-14."""
    return date(year, 4, 1), date(year + 1, 3, 31)


@dataclass
class ForecastRow:
    service_type: str
    budget: int = 0
    actual_to_date: int = 0
    committed: int = 0
    capacity_units: int | None = None
    contracted_unit_days: int = 0
    occupied_unit_days: int = 0

    @property
    def forecast(self) -> int:
        return self.actual_to_date + self.committed

    @property
    def variance(self) -> int:
        return self.forecast - self.budget

    @property
    def usage_percent(self) -> float | None:
        if not self.contracted_unit_days:
            return None
        return round(100 * self.occupied_unit_days / self.contracted_unit_days, 1)

    def as_dict(self) -> dict[str, Any]:
        return {"service_type": self.service_type, "budget": self.budget, "forecast": self.forecast,
                "variance": self.variance, "capacity_units": self.capacity_units, "usage_percent": self.usage_percent,
                "actual_to_date": self.actual_to_date, "committed": self.committed}


async def forecast(conn: asyncpg.Connection, year: int, today: date, schema: str = "finance") -> dict[str, Any]:
    """Kent's forecast table for financial year `year` as of `today`: a row per service type with a budget or a
    cost, then the unfunded nights (never costed), then the total (the sum of the rows)."""
    first, last = financial_year(year)
    to_date = min(max(today, first - timedelta(days=1)), last)
    rows: dict[str, ForecastRow] = {}

    def row(service_type: str) -> ForecastRow:
        return rows.setdefault(service_type, ForecastRow(service_type))

    for budget in await conn.fetch(f"SELECT * FROM {schema}.budgets WHERE financial_year = $1", year):
        found = row(budget["service_type"])
        found.budget += budget["amount"]
        if budget["capacity_units"] is not None:
            found.capacity_units = (found.capacity_units or 0) + budget["capacity_units"]
    unfunded = 0
    if to_date >= first:
        book = await ledger(conn, first, to_date, schema=schema)
        accruals = book.accruals()
        contracts = {contract.contract_id: contract for contract in book.contracts}
        for accrual in accruals:
            unfunded += accrual.unfunded_days
            contract = contracts.get(accrual.contract_id) if accrual.contract_id else None
            if contract and not contract.procurement.is_block:
                row(contract.service_type.value).actual_to_date += accrual.cost.whole
        for block in block_costs(book, accruals):
            found = row(contracts[block.contract_id].service_type.value)
            found.actual_to_date += block.contract_value
            found.contracted_unit_days += block.contracted_unit_days
            found.occupied_unit_days += min(block.occupied_unit_days, block.contracted_unit_days)
        if spent := sum(row["amount"] for row in book.fund_spending):
            row(FUNDS).actual_to_date += spent
    if unspent := await fund_balances(conn, to_date, schema):
        row(FUNDS).committed += unspent
    if to_date < last:
        live = await ledger(conn, to_date + timedelta(days=1), last, schema=schema)
        for service_type in ServiceType:
            of_type = [c for c in live.contracts if c.service_type is service_type]
            if of_type and (pence := costing.committed(live.stays, of_type, to_date + timedelta(days=1), last)):
                row(service_type.value).committed += pence
    table = [rows[name].as_dict() for name in sorted(rows)]
    total = {key: sum(r[key] for r in table) for key in ("budget", "forecast", "variance", "actual_to_date",
                                                           "committed")}
    return {"financial_year": f"{year}-{(year + 1) % 100:02d}", "as_of": to_date.isoformat(), "rows": table,
            "total": total, "unfunded_nights": unfunded}
