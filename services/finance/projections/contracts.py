"""The finance service's own facts as tables: contracts with their price and funding history, budgets, individual
service funds and their spending; and the
outcomes that release payment by results.

`contracts`, `contract_prices`, `contract_funding` and `budgets` follow the finance store; `outcome_results`
follows the outcomes stream (an outcome achieved at an episode's departure releases the support held back on the
stay with the episode's id).
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from services.finance.costing import Contract, DatedFunding, DatedPackage
from shared.contracts.finance import (
    BudgetSet,
    ContractAgreed,
    ContractFundingChanged,
    ContractPriceChanged,
    FundingShare,
    IndividualServiceFundAgreed,
    IndividualServiceFundSpent,
    Package,
    PaymentByResults,
    PriceBasis,
    Procurement,
)
from shared.contracts.outcomes import DepartureOutcomesRecorded, OutcomeResult, ServiceType
from shared.projections import Projection, Recorded, event_types


class Contracts(Projection):
    """Contracts and budgets from the finance store; each history row is keyed by the event that made it."""

    name = "contracts"
    follows = {"finance": event_types([ContractAgreed, ContractPriceChanged, ContractFundingChanged, BudgetSet,
                                       IndividualServiceFundAgreed, IndividualServiceFundSpent])}
    tables = [
        "CREATE TABLE IF NOT EXISTS contracts ("
        " contract_id uuid PRIMARY KEY, provider_id uuid NOT NULL, name text NOT NULL, district text NOT NULL,"
        " procurement text NOT NULL, service_type text NOT NULL, scheme_ids uuid[] NOT NULL,"
        " starts_on date NOT NULL, ends_on date, contracted_units int, basis text NOT NULL,"
        " payment_by_results jsonb, agreed_event_id uuid NOT NULL)",
        "CREATE TABLE IF NOT EXISTS contract_prices ("
        " event_id uuid PRIMARY KEY, contract_id uuid NOT NULL, effective_from date NOT NULL, package jsonb NOT NULL,"
        " sequence bigint NOT NULL)",
        "CREATE TABLE IF NOT EXISTS contract_funding ("
        " event_id uuid PRIMARY KEY, contract_id uuid NOT NULL, effective_from date NOT NULL,"
        " funding jsonb NOT NULL, sequence bigint NOT NULL)",
        "CREATE TABLE IF NOT EXISTS budgets ("
        " budget_id uuid PRIMARY KEY, financial_year int NOT NULL, service_type text NOT NULL, client_group text,"
        " amount bigint NOT NULL, capacity_units int, version int NOT NULL)",
        "CREATE TABLE IF NOT EXISTS funds (fund_id uuid PRIMARY KEY, case_id uuid NOT NULL, district text NOT NULL,"
        " stream text NOT NULL, amount bigint NOT NULL, starts_on date NOT NULL, ends_on date NOT NULL)",
        "CREATE TABLE IF NOT EXISTS fund_spending (event_id uuid PRIMARY KEY, fund_id uuid NOT NULL,"
        " amount bigint NOT NULL, spent_on date NOT NULL, purpose text NOT NULL)",
    ]

    async def apply_one(self, conn: asyncpg.Connection, recorded: Recorded) -> None:
        event = recorded.event
        if isinstance(event, ContractAgreed):
            await conn.execute(
                "INSERT INTO contracts VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13)"
                " ON CONFLICT (contract_id) DO NOTHING",
                event.contract_id, event.provider_id, event.name, event.district, event.procurement.value,
                event.service_type.value, event.scheme_ids, event.starts_on, event.ends_on, event.contracted_units,
                event.basis.value,
                event.payment_by_results.model_dump_json() if event.payment_by_results else None, event.event_id)
            await self._price(conn, recorded, event.starts_on, event.package)
            await self._funding(conn, recorded, event.starts_on, event.funding)
        elif isinstance(event, ContractPriceChanged):
            await self._price(conn, recorded, event.effective_from, event.package)
        elif isinstance(event, ContractFundingChanged):
            await self._funding(conn, recorded, event.effective_from, event.funding)
        elif isinstance(event, IndividualServiceFundAgreed):
            await conn.execute("INSERT INTO funds VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (fund_id) DO NOTHING",
                               event.fund_id, event.case_id, event.district, event.stream.value, event.amount,
                               event.starts_on, event.ends_on)
        elif isinstance(event, IndividualServiceFundSpent):
            await conn.execute("INSERT INTO fund_spending VALUES ($1, $2, $3, $4, $5)"
                               " ON CONFLICT (event_id) DO NOTHING", event.event_id, event.fund_id, event.amount,
                               event.spent_on, event.purpose)
        elif isinstance(event, BudgetSet):
            await conn.execute(
                "INSERT INTO budgets VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (budget_id) DO UPDATE SET"
                " amount = excluded.amount, capacity_units = excluded.capacity_units, version = excluded.version"
                " WHERE budgets.version < excluded.version",
                event.budget_id, event.financial_year, event.service_type.value,
                event.client_group.value if event.client_group else None, event.amount, event.capacity_units,
                event.aggregate_version)

    async def _price(self, conn: asyncpg.Connection, recorded: Recorded, day: Any, package: Package) -> None:
        await conn.execute("INSERT INTO contract_prices VALUES ($1, $2, $3, $4::jsonb, $5)"
                           " ON CONFLICT (event_id) DO NOTHING", recorded.event.event_id, recorded.event.contract_id,
                           day, package.model_dump_json(), recorded.sequence)

    async def _funding(self, conn: asyncpg.Connection, recorded: Recorded, day: Any,
                       funding: list[FundingShare]) -> None:
        await conn.execute("INSERT INTO contract_funding VALUES ($1, $2, $3, $4::jsonb, $5)"
                           " ON CONFLICT (event_id) DO NOTHING", recorded.event.event_id, recorded.event.contract_id,
                           day, json.dumps([share.model_dump(mode="json") for share in funding]), recorded.sequence)


class OutcomeResults(Projection):
    """Outcomes achieved (or not) at each episode's departure, from the outcomes stream: what payment by results
    waits for."""

    name = "outcome_results"
    follows = {"outcomes": event_types([DepartureOutcomesRecorded])}
    tables = ["CREATE TABLE IF NOT EXISTS outcome_results (stay_id uuid NOT NULL, outcome text NOT NULL,"
              " result text NOT NULL, event_id uuid NOT NULL, PRIMARY KEY (stay_id, outcome))"]

    async def apply_one(self, conn: asyncpg.Connection, recorded: Recorded) -> None:
        event = recorded.event
        await conn.executemany(
            "INSERT INTO outcome_results VALUES ($1, $2, $3, $4) ON CONFLICT (stay_id, outcome) DO NOTHING",
            [(event.episode_id, outcome.value, result.value, event.event_id)
             for outcome, result in event.results.items()])


async def contracts_in_force(conn: asyncpg.Connection, schema: str = "finance") -> list[Contract]:
    """Every contract with its price and funding history, as the costing arithmetic takes them."""
    contracts = await conn.fetch(f"SELECT * FROM {schema}.contracts ORDER BY starts_on, contract_id")
    prices = await conn.fetch(f"SELECT * FROM {schema}.contract_prices ORDER BY effective_from, sequence")
    funding = await conn.fetch(f"SELECT * FROM {schema}.contract_funding ORDER BY effective_from, sequence")
    result = []
    for row in contracts:
        pbr = row["payment_by_results"]
        result.append(Contract(
            contract_id=row["contract_id"], provider_id=row["provider_id"], name=row["name"],
            procurement=Procurement(row["procurement"]), service_type=ServiceType(row["service_type"]),
            scheme_ids=frozenset(row["scheme_ids"]), starts_on=row["starts_on"], ends_on=row["ends_on"],
            contracted_units=row["contracted_units"], basis=PriceBasis(row["basis"]),
            prices=tuple(DatedPackage(p["effective_from"], Package.model_validate_json(p["package"]))
                         for p in prices if p["contract_id"] == row["contract_id"]),
            funding=tuple(DatedFunding(f["effective_from"], tuple(FundingShare.model_validate(share)
                                                                   for share in json.loads(f["funding"])))
                          for f in funding if f["contract_id"] == row["contract_id"]),
            payment_by_results=PaymentByResults.model_validate_json(pbr) if pbr else None))
    return result


async def achieved_outcomes(conn: asyncpg.Connection, stay_ids: list, schema: str = "finance") -> dict[Any, set[str]]:
    """The outcomes achieved at each of these stays' departures (a stay's id is its support episode's)."""
    rows = await conn.fetch(f"SELECT stay_id, outcome FROM {schema}.outcome_results WHERE result = $1"
                            " AND stay_id = ANY($2::uuid[])", OutcomeResult.achieved.value, stay_ids)
    achieved: dict[Any, set[str]] = {}
    for row in rows:
        achieved.setdefault(row["stay_id"], set()).add(row["outcome"])
    return achieved


async def fund_spending(conn: asyncpg.Connection, first_day: Any, last_day: Any, district: str | None = None,
                        schema: str = "finance") -> list[asyncpg.Record]:
    """Money spent from individual service funds between the two days (both included), with each fund's stream."""
    return list(await conn.fetch(
        f"SELECT s.*, f.stream, f.case_id, f.district FROM {schema}.fund_spending s JOIN {schema}.funds f"
        " USING (fund_id) WHERE s.spent_on BETWEEN $1 AND $2 AND ($3::text IS NULL OR f.district = $3)",
        first_day, last_day, district))


async def fund_balances(conn: asyncpg.Connection, running_on: Any, schema: str = "finance") -> int:
    """Pence still unspent in the funds running on the day (committed to their young people)."""
    return await conn.fetchval(
        f"SELECT coalesce(sum(f.amount - coalesce((SELECT sum(amount) FROM {schema}.fund_spending s"
        " WHERE s.fund_id = f.fund_id), 0)), 0)::bigint"
        f" FROM {schema}.funds f WHERE f.ends_on >= $1", running_on)
