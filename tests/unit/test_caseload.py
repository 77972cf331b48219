"""GET /panel-agenda and /duties-clock on a bare FastAPI app: input checks, waiting for a position,
and how rows become answers. The projection itself runs on PostgreSQL in tests/integration/test_caseload.py."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from uuid import uuid4

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.referral.api.caseload import router, today_utc
from services.referral.projections.caseload import days_between, utc_day
from shared.service import ServiceRuntime
from tests.unit.tokens import bearer, trusting_test_tokens

TODAY = date(2026, 5, 1)


@dataclass
class StandInConnection:
    """Answers every caseload query with the rows it was given (and the emergency placements query with
    its own, none unless given), and remembers the queries."""

    rows: list[dict]
    emergency_rows: list[dict] = field(default_factory=list)
    queries: list[tuple] = field(default_factory=list)

    async def fetch(self, sql: str, *args) -> list[dict]:
        self.queries.append((sql, args))
        return self.emergency_rows if "emergency_placements" in sql else self.rows


@dataclass
class StandInPool:
    conn: StandInConnection

    @contextlib.asynccontextmanager
    async def acquire(self):
        yield self.conn


@dataclass
class StandInRunner:
    """A projection runner that has applied the referral store's events up to `position`."""

    position: int
    source_service: str = "referral"
    projection: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(name="caseload"))
    asked: list[int] = field(default_factory=list)

    blocked: str | None = None
    source: None = None

    async def wait_for(self, source_position: int, timeout: float) -> bool:
        self.asked.append(source_position)
        return source_position <= self.position


@dataclass
class StandInRuntime:
    """What the caseload routes use from a ServiceRuntime."""

    pool: StandInPool
    runners: list[StandInRunner]
    settings: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(read_wait_seconds=0.01))

    vitals: None = None
    wait_for_positions = ServiceRuntime.wait_for_positions  # the real waiting, on these stand-ins
    _until_reached = ServiceRuntime._until_reached
    why_stuck = ServiceRuntime.why_stuck


def a_row(**overrides) -> dict:
    """A caseload row as PostgreSQL gives it."""
    row = {
        "case_id": uuid4(), "person_ref": uuid4(), "district": "preston", "cohort": "care_leaver",
        "status": "open", "referred_at": datetime(2026, 3, 1, 9, tzinfo=UTC),
        "assessed_at": datetime(2026, 4, 10, 9, tzinfo=UTC), "priority_band": "A", "support_level": "high",
        "awaiting_panel_since": datetime(2026, 4, 10, 9, tzinfo=UTC), "last_panel_decision": None,
        "last_panel_date": None, "duty": None, "duty_started_at": None,
    }
    return row | overrides


@pytest.fixture
def conn() -> StandInConnection:
    return StandInConnection(rows=[])


@pytest.fixture
def consumer() -> StandInRunner:
    return StandInRunner(position=7)


@pytest.fixture
def client(conn, consumer) -> TestClient:
    app = FastAPI()
    app.include_router(router)
    app.state.runtime = StandInRuntime(StandInPool(conn), [consumer])
    app.dependency_overrides[today_utc] = lambda: TODAY
    return TestClient(trusting_test_tokens(app), headers=bearer("childrens_services"))


def test_the_agenda_gives_each_case_its_wait_since_it_became_ready_in_days(client, conn):
    row = a_row(awaiting_panel_since=datetime(2026, 4, 10, 23, 30, tzinfo=UTC), last_panel_decision="defer",
                last_panel_date=date(2026, 4, 24))
    conn.rows = [row]

    response = client.get("/panel-agenda")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["as_of"] == "2026-05-01" and body["district"] is None
    [entry] = body["cases"]
    assert entry["days_waiting"] == 21
    assert entry["awaiting_panel_since"] == "2026-04-10T23:30:00Z"
    assert (entry["case_id"], entry["person_ref"]) == (str(row["case_id"]), str(row["person_ref"]))
    assert (entry["priority_band"], entry["support_level"], entry["last_panel_decision"]) == ("A", "high", "defer")


def started(days_ago: int) -> datetime:
    day = TODAY - timedelta(days=days_ago)
    return datetime(day.year, day.month, day.day, 9, tzinfo=UTC)


def test_the_duties_clock_shows_each_duty_by_its_own_rule(client, conn):
    conn.rows = [a_row(duty="relief", duty_started_at=started(57)), a_row(duty="relief", duty_started_at=started(56)),
                 a_row(duty="relief", duty_started_at=started(55)),
                 a_row(duty="prevention", duty_started_at=started(80)),
                 a_row(duty="prevention", duty_started_at=started(56)),
                 a_row(duty="prevention", duty_started_at=started(55)),
                 a_row(duty="main", duty_started_at=started(300))]

    response = client.get("/duties-clock")

    assert response.status_code == 200, response.text
    body = response.json()
    assert [(e["duty"], e["days_running"], e["state"], e["overdue"], e["days_left"]) for e in body["cases"]] == [
        ("relief", 57, "overdue", True, -1), ("relief", 56, "due", False, 0), ("relief", 55, "running", False, 1),
        ("prevention", 80, "review", False, None), ("prevention", 56, "review", False, None),
        ("prevention", 55, "running", False, None), ("main", 300, "running", False, None)]
    assert body["cases"][0]["main_duty_decision_due_on"] == "2026-04-30"
    assert body["as_of"] == "2026-05-01" and body["duty"] is None
    [(_, (district, duty))] = conn.queries
    assert (district, duty) == (None, None)


def test_the_duties_clock_can_be_asked_for_one_kind_of_duty(client, conn):
    assert client.get("/duties-clock", params={"duty": "relief"}).json()["duty"] == "relief"
    assert conn.queries[0][1] == (None, "relief")
    assert client.get("/duties-clock", params={"duty": "s195"}).status_code == 422


def test_a_district_filter_is_passed_to_the_read_model(client, conn):
    assert client.get("/panel-agenda", params={"district": "wyre"}).json()["district"] == "wyre"
    assert client.get("/duties-clock", params={"district": "wyre"}).status_code == 200
    assert [args[-1] for _, args in conn.queries[:2]] == ["wyre", "wyre"]  # agenda, its emergencies
    assert conn.queries[2][1][0] == "wyre"  # clock


@pytest.mark.parametrize("path", ["/panel-agenda", "/duties-clock"])
def test_an_unknown_district_is_refused_naming_the_known_ones_and_nothing_is_read(client, conn, path):
    response = client.get(path, params={"district": "atlantis"})

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", "district"] and error["type"] == "UnknownDistrict"
    assert "atlantis" not in error["msg"] and "preston" in error["msg"]  # the value sent is never echoed
    assert conn.queries == []


@pytest.mark.parametrize("path", ["/panel-agenda", "/duties-clock"])
def test_a_read_after_a_position_waits_for_the_projection_to_apply_it(client, consumer, path):
    response = client.get(path, params={"after": "referral:7"})

    assert response.status_code == 200, response.text
    assert consumer.asked == [7]


@pytest.mark.parametrize("path", ["/panel-agenda", "/duties-clock"])
def test_a_position_not_reached_in_time_is_a_503_to_retry(client, conn, path):
    response = client.get(path, params={"after": "referral:8"})

    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert "referral:8" in response.json()["detail"]
    assert conn.queries == []


@pytest.mark.parametrize("token", ["journeys:3", "referral", "referral:-1", "referral:x"])
def test_a_position_this_service_does_not_follow_is_refused(client, consumer, token):
    response = client.get("/panel-agenda", params={"after": token})

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["type"] == "unknown_position" and error["follows"] == ["referral"]
    assert consumer.asked == []


PERSONAL_DATA = {"given_name": "Samira", "family_name": "Okonkwo-Example", "date_of_birth": date(2009, 3, 14),
                 "phone": "07700 900123", "email": "samira@example.org", "address": "1 Example Street, Preston"}


def keys_and_values(answer) -> tuple[set[str], str]:
    """Every key anywhere in a JSON answer, and the answer as text."""
    keys, pending = set(), [answer]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            keys |= set(item)
            pending += item.values()
        elif isinstance(item, list):
            pending += item
    return keys, json.dumps(answer)


def test_personal_data_in_the_rows_read_reaches_no_answer(client, conn):
    conn.rows = [a_row(duty="relief", duty_started_at=started(60), **PERSONAL_DATA)]
    conn.emergency_rows = [{"case_id": conn.rows[0]["case_id"], "placement_id": uuid4(), "district": "preston",
                            "provision_type": "bed_and_breakfast", "started_at": datetime(2026, 4, 20, tzinfo=UTC),
                            **PERSONAL_DATA}]
    agenda, clock = client.get("/panel-agenda").json(), client.get("/duties-clock").json()
    assert agenda["cases"] and agenda["emergency_placements_to_report"] and clock["cases"]

    for answer in (agenda, clock):
        keys, text = keys_and_values(answer)
        assert keys.isdisjoint(PERSONAL_DATA)
        assert not [value for value in PERSONAL_DATA.values() if str(value) in text]


def test_days_are_counted_between_utc_calendar_days():
    assert utc_day(datetime.fromisoformat("2026-04-30T23:30:00-02:00")) == date(2026, 5, 1)
    assert days_between(date(2026, 4, 30), date(2026, 5, 1)) == 1
    assert days_between(date(2026, 5, 3), date(2026, 5, 1)) == -2
