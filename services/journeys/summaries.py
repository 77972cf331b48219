"""Journey summaries: each young person's figures (`figures_of` in services/journeys/pathways.py) kept as one row, so
the pathway map is a few SQL aggregates over one row per young person instead of a pass over every step.

- **Live summaries** (`as_of` = `LIVE`): the `journeys` projection marks a young person as waiting whenever a step,
  a case, a link or a stay's cost of theirs changes (`summaries_waiting`, in the same transaction as the change);
  `summarize_waiting` makes their rows again from their steps, under a lock on their waiting row, so a change
  committed meanwhile marks them again. A background loop keeps up (`start_summarizing`), and every read of the
  map first summarizes whoever is still waiting: a map read after a write position counts that write.
- **Snapshots** (`as_of` = a past day): what was known at the end of that day never changes, so the first map asked
  for that day makes every young person's rows as known then (their cases, steps and links as recorded by then,
  stay costs of the months up to then, as costed when the snapshot is made) and keeps them; a rebuild drops them.
- **Scopes**: a young person has a row for all their cases (`*`) and one per district of theirs, for a map of
  one district (a district officer's, or a `district` filter).
- **Filters** choose young people by their first referral in the scope: its district (or the commissioning
  areas it is in), cohort, legal status, gateway, age band (16-17, 18-21, 22-25 on the day of the referral),
  its day; and by the flags (UASC, teenage parent, youth justice) raised for them or given at a referral.
- Days that depend on today (end to end while open, the last stage's days) are worked out at read time from the
  stored first day, end day (none while open), last stage and the day it was entered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from services.journeys.pathway_queries import (
    FLAGS_FOR_ANALYSTS,
    NOT_SPLIT,
    Chosen,
    chosen_cases,
    persons_then,
    stay_costs_of,
    step_of_row,
    steps_of,
)
from services.journeys.pathways import (
    STAY_COUNTS,
    CellTally,
    GroupTally,
    Journey,
    PathwayMap,
    Stage,
    StayLimits,
    Step,
    Tallies,
    areas_in_register,
    figures_of,
    in_order,
    map_of,
)
from shared.contracts.finance import FundingStream
from shared.districts import district_register

log = logging.getLogger(__name__)

LIVE = date.max
"""The `as_of` of the summaries as known now (stored as PostgreSQL's `infinity`)."""
ALL_CASES = "*"
"""The scope of a young person's row over all their cases."""
AGE_BANDS = {"16-17": (16, 17), "18-21": (18, 21), "22-25": (22, 25)}

STREAMS = (*(stream.value for stream in FundingStream), NOT_SPLIT)
"""A summary's cost by funding stream: a column each (`cost_<stream>`), so the map adds them up in one pass."""
STAGES = tuple(stage.value for stage in Stage)
"""A summary's days in each stage, its last run left out: a column each (`days_<stage>`; none: never in it)."""

SUMMARY_TABLES = [
    "CREATE TABLE IF NOT EXISTS summaries_waiting ("
    " person_ref uuid PRIMARY KEY, since timestamptz NOT NULL DEFAULT now())",
    "CREATE TABLE IF NOT EXISTS journey_summaries ("
    " as_of date NOT NULL, scope text NOT NULL, person_ref uuid NOT NULL, district text NOT NULL, cohort text,"
    " legal_status text, gateway text, age_band text, referred_at timestamptz NOT NULL, flags text[] NOT NULL,"
    " variant text NOT NULL, first_day date NOT NULL, end_day date, placements int NOT NULL,"
    " breakdowns int NOT NULL, planned_move_ons int NOT NULL, ended_in_planned_move_on boolean NOT NULL,"
    " returned_within_12_months boolean, last_planned_move_on date, cost_pence bigint NOT NULL,"
    + "".join(f" cost_{stream} bigint NOT NULL," for stream in STREAMS)
    + "".join(f" days_{stage} int," for stage in STAGES) +
    " last_stage text, last_entered date,"
    " breakdowns_by text[] NOT NULL, panel_decisions text[] NOT NULL, stays_ended int NOT NULL,"
    " stays_with_maximum int NOT NULL, stays_over_maximum int NOT NULL, stays_with_target int NOT NULL,"
    " stays_over_target int NOT NULL, PRIMARY KEY (as_of, scope, person_ref))",
    "CREATE TABLE IF NOT EXISTS summary_snapshots (as_of date PRIMARY KEY, made_at timestamptz NOT NULL)",
]
COLUMNS = ("as_of", "scope", "person_ref", "district", "cohort", "legal_status", "gateway", "age_band", "referred_at",
           "flags", "variant", "first_day", "end_day", "placements", "breakdowns", "planned_move_ons",
           "ended_in_planned_move_on", "returned_within_12_months", "last_planned_move_on", "cost_pence",
           *(f"cost_{stream}" for stream in STREAMS), *(f"days_{stage}" for stage in STAGES), "last_stage",
           "last_entered", "breakdowns_by", "panel_decisions", *STAY_COUNTS)
SUMMARIZE_AT_ONCE = 500
"""Young people summarized in one transaction."""


async def mark_waiting(conn: asyncpg.Connection, case_ids: Collection[UUID], persons: Collection[UUID] = (),
                       schemes: Collection[str] = ()) -> None:
    """Mark the young people of these cases, these young people, and those who ever stayed in these schemes (their
    stay limits changed) as waiting for their summaries to be made again, in the order of their refs (two batches
    marking the same young people never deadlock). Inside a projection's transaction: its search path names the
    tables."""
    if not case_ids and not persons and not schemes:
        return
    await conn.execute(
        "INSERT INTO summaries_waiting (person_ref) SELECT person_ref FROM ("
        " SELECT person_ref FROM case_journeys WHERE case_id = ANY($1::uuid[])"
        " UNION SELECT unnest($2::uuid[])"
        " UNION SELECT c.person_ref FROM case_journeys c JOIN journey_steps s ON s.case_id = c.case_id"
        "  WHERE cardinality($3::text[]) > 0 AND s.event_type IN ('PlacementStarted', 'PlacementMoved')"
        "  AND s.facts->>'scheme_id' = ANY($3::text[])) waiting ORDER BY person_ref"
        " ON CONFLICT (person_ref) DO UPDATE SET since = summaries_waiting.since",
        list(case_ids), list(persons), list(schemes))


def age_band(age: int | None) -> str | None:
    return next((band for band, (low, high) in AGE_BANDS.items() if age is not None and low <= age <= high), None)


def summary_rows(as_of: date, person_ref: UUID, steps: Sequence[Step], case_districts: dict[str, str],
                 today: date, limits_of: StayLimits) -> list[tuple]:
    """A young person's summary rows: over all their cases, and over each district's."""
    scopes: dict[str, list[Step]] = {ALL_CASES: list(steps)}
    for step in steps:
        scopes.setdefault(case_districts[step.case_id], []).append(step)
    rows = []
    for scope, scope_steps in scopes.items():
        ordered = in_order(scope_steps)
        referral = next((step for step in ordered if step.event_type == "ReferralMade"), None)
        if referral is None:
            continue
        figures = figures_of(Journey(str(person_ref), tuple(ordered)), today, limits_of)
        flags = sorted({flag for step in ordered for flag in (
            [step.facts.get("flag")] if step.event_type == "FlagRaised" else
            step.facts.get("flags") or [] if step.event_type == "ReferralMade" else [])
            if flag in FLAGS_FOR_ANALYSTS})
        rows.append((
            as_of, scope, person_ref, case_districts[referral.case_id], referral.facts.get("cohort"),
            referral.facts.get("legal_status"), referral.facts.get("gateway"),
            age_band(referral.facts.get("age_at_event")), referral.occurred_at, flags, " > ".join(figures.variant),
            figures.first_day, figures.end_day, figures.placements, figures.breakdowns, figures.planned_move_ons,
            figures.ended_in_planned_move_on, figures.returned_within_12_months, figures.last_planned_move_on,
            figures.cost_pence,
            *(figures.cost_by_stream.get(stream, 0) for stream in STREAMS),
            *(figures.stage_days_before_last.get(stage) for stage in STAGES),
            figures.last_stage, figures.last_entered, [f"{reason}|{stage}" for reason, stage in figures.breakdowns_by],
            ["|".join(decision) for decision in figures.panel_decisions],
            *(getattr(figures, name) for name in STAY_COUNTS)))
    return rows


async def summaries_of(conn: asyncpg.Connection, cases: Sequence[asyncpg.Record], persons: dict[UUID, UUID],
                       as_of: date, schema: str) -> list[tuple]:
    """The summary rows of the young people of these cases (each case's young person in `persons`)."""
    if not cases:
        return []
    case_ids = [case["case_id"] for case in cases]
    recorded_before = None if as_of == LIVE else _midnight(as_of + timedelta(days=1))
    costs = await stay_costs_of(conn, case_ids, None if as_of == LIVE else as_of, schema)
    steps: dict[UUID, list[Step]] = {}
    for row in await steps_of(conn, case_ids, recorded_before, schema):
        steps.setdefault(persons[row["case_id"]], []).append(step_of_row(row, costs))
    districts = {str(case["case_id"]): case["district"] for case in cases}
    today = min(as_of, datetime.now(UTC).date())
    limits_of = await stay_limits(conn, {step.facts.get("scheme_id") for person_steps in steps.values()
                                         for step in person_steps if step.event_type in ("PlacementStarted",
                                                                                         "PlacementMoved")},
                                  recorded_before, schema)
    return [row for person, person_steps in steps.items()
            for row in summary_rows(as_of, person, person_steps, districts, today, limits_of)]


async def stay_limits(conn: asyncpg.Connection, schemes: Collection[str | None], recorded_before: datetime | None,
                      schema: str) -> StayLimits:
    """The schemes' stay limits (as recorded by `recorded_before`): (maximum, target) of a stay begun on a day."""
    dated: dict[str, list[tuple[date, int | None, int | None]]] = {}
    for row in await conn.fetch(
            f"SELECT scheme_id::text, effective_from, max_stay_days, target_stay_days FROM {schema}.scheme_stay_limits"
            " WHERE scheme_id::text = ANY($1::text[]) AND ($2::timestamptz IS NULL OR recorded_at < $2)"
            " ORDER BY effective_from DESC", [scheme for scheme in schemes if scheme], recorded_before):
        dated.setdefault(row["scheme_id"], []).append(
            (row["effective_from"], row["max_stay_days"], row["target_stay_days"]))

    def limits_of(scheme: str, began: date) -> tuple[int | None, int | None]:
        return next(((maximum, target) for since, maximum, target in dated.get(scheme, ()) if since <= began),
                    (None, None))

    return limits_of


async def _write(conn: asyncpg.Connection, rows: list[tuple], schema: str) -> None:
    await conn.copy_records_to_table("journey_summaries", schema_name=schema, columns=COLUMNS, records=rows)


async def summarize_waiting(conn: asyncpg.Connection, schema: str = "journeys", *, skip_locked: bool = False,
                            at_most: int | None = None) -> int:
    """Make again the live summaries of the young people waiting, a few hundred per transaction, until none wait
    (or `at_most` are done); how many were made. `skip_locked` (the background loop) leaves alone those another
    summarizer holds; a read waits for them instead, so it never answers without them."""
    done = 0
    while at_most is None or done < at_most:
        async with conn.transaction():
            waiting = [row["person_ref"] for row in await conn.fetch(
                f"SELECT person_ref FROM {schema}.summaries_waiting ORDER BY person_ref LIMIT $1 FOR UPDATE"
                + (" SKIP LOCKED" if skip_locked else ""), SUMMARIZE_AT_ONCE)]
            if not waiting:
                return done
            cases = await conn.fetch(
                f"SELECT case_id, person_ref, district FROM {schema}.case_journeys WHERE person_ref = ANY($1::uuid[])",
                waiting)
            rows = await summaries_of(conn, cases, {case["case_id"]: case["person_ref"] for case in cases}, LIVE,
                                      schema)
            await conn.execute(f"DELETE FROM {schema}.journey_summaries WHERE as_of = $1 AND person_ref = ANY($2)",
                               LIVE, waiting)
            await _write(conn, rows, schema)
            await conn.execute(f"DELETE FROM {schema}.summaries_waiting WHERE person_ref = ANY($1)", waiting)
        done += len(waiting)
    return done


async def waiting_count(conn: asyncpg.Connection, schema: str = "journeys") -> int:
    return await conn.fetchval(f"SELECT count(*) FROM {schema}.summaries_waiting")


async def snapshot(conn: asyncpg.Connection, as_of: date, schema: str = "journeys") -> None:
    """Make every young person's summaries as known at the end of `as_of` (a past day), once: a lock makes a second
    reader of the same day wait for the first's snapshot rather than make it again."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{schema}.snapshot.{as_of}")
        if await conn.fetchval(f"SELECT 1 FROM {schema}.summary_snapshots WHERE as_of = $1", as_of):
            return
        chosen = Chosen(as_of=as_of)
        cases = await chosen_cases(conn, chosen, schema)
        persons = await persons_then(conn, cases, chosen.recorded_before, schema)
        by_person: dict[UUID, list[asyncpg.Record]] = {}
        for case in cases:
            by_person.setdefault(persons[case["case_id"]], []).append(case)
        people = sorted(by_person)
        for start in range(0, len(people), SUMMARIZE_AT_ONCE):
            some = [case for person in people[start:start + SUMMARIZE_AT_ONCE] for case in by_person[person]]
            await _write(conn, await summaries_of(conn, some, persons, as_of, schema), schema)
        await conn.execute(f"INSERT INTO {schema}.summary_snapshots VALUES ($1, now())", as_of)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


async def start_summarizing(runtime: Any, _js: Any) -> None:
    """Keep the live summaries up to date for as long as the service runs; report how many wait in /health."""

    async def keep_up() -> None:
        while True:
            try:
                async with runtime.pool.acquire() as conn:
                    done = await summarize_waiting(conn, runtime.schema, skip_locked=True,
                                                   at_most=SUMMARIZE_AT_ONCE * 10)
            except Exception as error:  # noqa: BLE001 - the next round tries again; reads summarize for themselves
                log.warning("summarizing journeys failed: %s", type(error).__name__)
                done = 0
            if not done:
                await asyncio.sleep(SUMMARIZE_EVERY_SECONDS)

    async def waiting() -> dict[str, Any]:
        async with runtime.pool.acquire() as conn:
            return {"waiting": await waiting_count(conn, runtime.schema)}

    runtime.watch("journey_summaries", waiting)
    runtime.in_background(keep_up(), "summaries")


SUMMARIZE_EVERY_SECONDS = 0.5
"""How often the background loop looks for young people waiting, when it found none."""


# -- the pathway map from the summaries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Where:
    """The SQL choosing the summaries of a map, and its arguments."""

    sql: str
    args: tuple[Any, ...]


def where_of(chosen: Chosen, as_of: date) -> Where:
    districts = None
    if chosen.area is not None:
        districts = [code for code, district in district_register().districts.items() if chosen.area in district.areas]
    return Where(
        "as_of = $1 AND scope = $2 AND ($3::text[] IS NULL OR district = ANY($3))"
        " AND ($4::text IS NULL OR cohort = $4) AND ($5::text IS NULL OR gateway = $5)"
        " AND ($6::text IS NULL OR legal_status = $6) AND ($7::text IS NULL OR age_band = $7)"
        " AND ($8::timestamptz IS NULL OR referred_at >= $8) AND ($9::timestamptz IS NULL OR referred_at < $9)"
        " AND ($10::text IS NULL OR $10 = ANY(flags))",
        (as_of, chosen.district or ALL_CASES, districts, chosen.cohort, chosen.gateway, chosen.legal_status,
         chosen.age_band, _midnight(chosen.referred_from) if chosen.referred_from else None,
         _midnight(chosen.referred_to + timedelta(days=1)) if chosen.referred_to else None, chosen.flag))


async def summaries_ready(conn: asyncpg.Connection, chosen: Chosen, today: date, schema: str) -> date:
    """Make the summaries the chosen `as_of` reads ready (the live ones summarized, a past day's snapshot made);
    the `as_of` of their rows."""
    as_of = chosen.as_of if chosen.as_of is not None and chosen.as_of < today else LIVE
    if as_of == LIVE:
        await summarize_waiting(conn, schema)
    else:
        await snapshot(conn, as_of, schema)
    return as_of


async def pathway_map_of(conn: asyncpg.Connection, chosen: Chosen, *, threshold: int, today: date,
                         schema: str = "journeys", pool: asyncpg.Pool | None = None) -> PathwayMap:
    """The pathway map of the chosen young people, as known at the end of `as_of` (or now), from their summaries
    (given a `pool`, its aggregates side by side: `tallies`)."""
    as_of = await summaries_ready(conn, chosen, today, schema)
    return map_of(await tallies(conn, where_of(chosen, as_of), min(as_of, today), schema, pool), threshold)


async def journeys_of_variant(conn: asyncpg.Connection, chosen: Chosen, variant: Sequence[str], *, limit: int,
                              today: date, schema: str = "journeys") -> tuple[int, list[dict[str, Any]]]:
    """How many of the chosen young people took the variant, and the longest `limit` of their journeys: each one's
    `person_ref`, days end to end, whether it is open and its cost (pence)."""
    as_of = await summaries_ready(conn, chosen, today, schema)
    where = where_of(chosen, as_of)
    rows = await conn.fetch(
        f"SELECT person_ref, coalesce(end_day, $11::date) - first_day AS days, end_day IS NULL AS open, cost_pence,"
        f" count(*) OVER () AS taken FROM {schema}.journey_summaries WHERE {where.sql} AND variant = $12"
        " ORDER BY days DESC, person_ref LIMIT $13", *where.args, min(as_of, today), " > ".join(variant), limit)
    return (rows[0]["taken"] if rows else 0), [
        {"person_ref": str(row["person_ref"]), "end_to_end_days": row["days"], "open": row["open"],
         "cost_pence": row["cost_pence"]} for row in rows]


async def tallies(conn: asyncpg.Connection, where: Where, today: date, schema: str,
                  pool: asyncpg.Pool | None = None) -> Tallies:
    """What the map counts of the chosen summaries: the variants and everyone (with their costs by stream), the
    stages, the breakdowns and the panels, in four aggregates. Given a `pool`, the last three run beside the first
    on connections of their own, all in one snapshot (exported by the first): the same summaries, in about half
    the time on two cores; a query that finds no free connection at once runs after, on `conn`."""
    queries = tally_queries(where, today, schema)
    if pool is None:
        results = [await conn.fetch(sql, *args) for sql, args in queries]
        return _tallies(results[0], results[1][0], results[2], _panel_cells(results[3]))
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        snapshot = await conn.fetchval("SELECT pg_export_snapshot()")

        async def beside(sql: str, args: tuple) -> list[asyncpg.Record] | None:
            try:
                other = await pool.acquire(timeout=0.05)
            except TimeoutError:
                return None
            try:
                async with other.transaction(isolation="repeatable_read", readonly=True):
                    await other.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
                    return await other.fetch(sql, *args)
            finally:
                await pool.release(other)

        first, *others = await asyncio.gather(conn.fetch(*_flat(queries[0])),
                                              *(beside(sql, args) for sql, args in queries[1:]))
        results = [first, *[found if found is not None else await conn.fetch(sql, *args)
                            for found, (sql, args) in zip(others, queries[1:], strict=True)]]
    return _tallies(results[0], results[1][0], results[2], _panel_cells(results[3]))


def _flat(query: tuple[str, tuple]) -> tuple:
    sql, args = query
    return (sql, *args)


def tally_queries(where: Where, today: date, schema: str) -> list[tuple[str, tuple]]:
    """The map's four aggregates over the chosen summaries: variants (and everyone), stages, breakdowns, panels."""
    chosen = (f"SELECT *, coalesce(end_day, $11::date) - first_day AS days FROM {schema}.journey_summaries"
              f" WHERE {where.sql}")
    args = (*where.args, today)
    groups = (
        f"WITH chosen AS ({chosen}) SELECT variant, GROUPING(variant) = 1 AS everyone, count(*) AS young_people,"
        " percentile_cont(0.5) WITHIN GROUP (ORDER BY days) AS median_days,"
        " percentile_disc(0.9) WITHIN GROUP (ORDER BY days) AS p90_days,"
        " count(*) FILTER (WHERE ended_in_planned_move_on) AS ended_in_planned_move_on,"
        " count(*) FILTER (WHERE returned_within_12_months"
        "  OR (last_planned_move_on + interval '12 months')::date < $11::date) AS moved_on,"
        " count(*) FILTER (WHERE returned_within_12_months) AS returned_within_12_months,"
        " sum(placements) AS placements, sum(breakdowns) AS breakdowns, sum(planned_move_ons) AS planned_move_ons,"
        " sum(cost_pence) AS cost_pence, percentile_cont(0.5) WITHIN GROUP (ORDER BY cost_pence) AS median_cost,"
        + ", ".join([*(f" sum({name}) AS {name}" for name in STAY_COUNTS),
                     *(f" sum(cost_{stream}) AS cost_{stream}" for stream in STREAMS)]) +
        " FROM chosen GROUP BY GROUPING SETS ((variant), ())")

    def days_in(stage: str) -> str:
        return (f"days_{stage} + CASE WHEN last_stage = '{stage}' THEN greatest(0, coalesce(end_day, $11::date)"
                " - last_entered) ELSE 0 END")

    stages = (
        f"WITH chosen AS ({chosen}) SELECT "
        + ", ".join(f"count(days_{stage}) AS {stage}_young_people,"
                    f" percentile_cont(0.5) WITHIN GROUP (ORDER BY {days_in(stage)}) AS {stage}_median,"
                    f" percentile_disc(0.9) WITHIN GROUP (ORDER BY {days_in(stage)}) AS {stage}_p90"
                    for stage in STAGES) + " FROM chosen")
    breakdowns = (
        f"WITH chosen AS ({chosen} AND breakdowns > 0) SELECT split_part(breakdown, '|', 1) AS reason,"
        " split_part(breakdown, '|', 2) AS stage, count(DISTINCT person_ref) AS young_people, count(*) AS breakdowns"
        " FROM chosen, unnest(breakdowns_by) AS breakdown GROUP BY 1, 2")
    pairs = [(district, area) for district in district_register().districts
             for area in areas_in_register(district)]
    panels = (
        f"WITH chosen AS ({chosen}), areas AS (SELECT * FROM unnest($12::text[], $13::text[]) AS a(district, area))"
        " SELECT area, month, decision, GROUPING(decision) = 1 AS every_decision,"
        " count(DISTINCT person_ref) AS young_people, count(*) AS decisions FROM ("
        "  SELECT decided.person_ref, decided.month, decided.decision, coalesce(areas.area, decided.district) AS area"
        "  FROM (SELECT chosen.person_ref, split_part(decision, '|', 2) AS month,"
        "   split_part(decision, '|', 3) AS decision, split_part(decision, '|', 1) AS district"
        "   FROM chosen, unnest(panel_decisions) AS decision) decided"
        "  LEFT JOIN areas USING (district)) in_areas GROUP BY GROUPING SETS ((area, month, decision), (area, month))")
    return [(groups, args), (stages, args), (breakdowns, args),
            (panels, (*args, [district for district, _ in pairs], [area for _, area in pairs]))]


def _panel_cells(rows: Iterable[asyncpg.Record]) -> dict[tuple[str, str], CellTally]:
    """Panel decisions per commissioning area (of the register; a district in none, or unknown to it, its own) and
    month, in all and by decision."""
    rows = list(rows)
    cells: dict[tuple[str, str], CellTally] = {}
    by_decision: dict[tuple[str, str], dict[str, tuple[int, int]]] = {}
    for row in rows:
        if not row["every_decision"]:
            by_decision.setdefault((row["area"], row["month"]), {})[row["decision"]] = (row["young_people"],
                                                                                         row["decisions"])
    for row in rows:
        if row["every_decision"]:
            key = (row["area"], row["month"])
            cells[key] = CellTally(row["young_people"], row["decisions"], by_decision=by_decision.get(key, {}))
    return cells


def _tallies(groups: Iterable[asyncpg.Record], stages: asyncpg.Record, breakdowns: Iterable[asyncpg.Record],
             panels: dict[tuple[str, str], CellTally]) -> Tallies:
    variants: dict[tuple[str, ...], GroupTally] = {}
    total: GroupTally | None = None
    for row in groups:
        if not row["young_people"]:
            continue
        key = None if row["everyone"] else row["variant"]
        tally = GroupTally(
            young_people=row["young_people"], median_days=float(row["median_days"]), p90_days=row["p90_days"],
            ended_in_planned_move_on=row["ended_in_planned_move_on"], moved_on=row["moved_on"],
            returned_within_12_months=row["returned_within_12_months"], placements=int(row["placements"]),
            breakdowns=int(row["breakdowns"]), planned_move_ons=int(row["planned_move_ons"]),
            cost_pence=int(row["cost_pence"]), median_cost_pence=float(row["median_cost"]),
            cost_by_stream={stream: int(row[f"cost_{stream}"]) for stream in sorted(STREAMS)
                            if row[f"cost_{stream}"]},
            **{name: int(row[name]) for name in STAY_COUNTS})
        if key is None:
            total = tally
        else:
            variants[tuple(key.split(" > "))] = tally
    return Tallies(
        variants, total, total.placements if total else 0,
        {(row["reason"], row["stage"]): CellTally(row["young_people"], row["breakdowns"]) for row in breakdowns},
        {stage: CellTally(stages[f"{stage}_young_people"], median_days=float(stages[f"{stage}_median"]),
                          p90_days=stages[f"{stage}_p90"]) for stage in STAGES if stages[f"{stage}_young_people"]},
        panels)
