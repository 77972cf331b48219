"""The journey map's routes on real PostgreSQL: a shown variant's journeys (GET /pathway-map/journeys) with the pathway
map's own suppression and roles, and the page's files (the page, its script and Plotly's JavaScript) served with no
token. The journeys: three young people presented and assessed (shown at a threshold of 2), and two alone in their
variants (suppressed together)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from uuid import uuid4

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from services.journeys.api import router
from services.journeys.projections.journeys import JourneyProjection
from shared.auth import Role
from shared.contracts.vocabulary import MediationOutcome
from shared.errors import map_domain_errors
from shared.projections import Recorded, prepare_projection
from shared.settings import Settings
from shared.web import today_utc
from tests.unit.pathway_builders import TODAY, ACase, d
from tests.unit.tokens import bearer, trusting_test_tokens

ASSESSED = "presentation > assessment"
CLAIMS = {Role.district_officer: {"district": "maidstone"}, Role.provider: {"provider": str(uuid4())}}


@dataclass
class StandInRuntime:
    """What the journeys routes use of a ServiceRuntime."""

    pool: asyncpg.Pool
    schema: str
    settings: Settings

    async def wait_for_positions(self, positions: list[str], *projections: str) -> None:
        return None


def the_five() -> list[ACase]:
    """Three presented on 20 February and assessed on 1 March (one case closed on 10 March, one on 20 March, one
    open), one presented only, one presented and offered mediation; all in Maidstone."""
    assessed = []
    for closed in (d(3, 10), None, d(3, 20)):
        case = ACase()
        case.referred(d(2, 20))
        case.assessed(d(3, 1))
        if closed:
            case.closed(closed)
        assessed.append(case)
    alone, mediated = ACase(), ACase()
    alone.referred(d(2, 21))
    mediated.referred(d(2, 22))
    mediated.mediation(d(2, 23), d(2, 24), MediationOutcome.not_possible)
    return [*assessed, alone, mediated]


async def apply(pool: asyncpg.Pool, schema: str, cases: list[ACase]) -> None:
    projection = JourneyProjection()
    events = sorted((event for case in cases for event in case.events), key=lambda event: event.recorded_at)
    batch = [Recorded(event, f"CASETRACK_{event.service.upper()}", n, n) for n, event in enumerate(events, 1)]
    async with pool.acquire() as conn:
        await prepare_projection(conn, schema, projection)
        async with conn.transaction():
            await conn.execute(f"SET LOCAL search_path TO {schema}")
            await projection.apply(conn, batch)


@pytest.fixture
async def cases(pool, schema) -> list[ACase]:
    cases = the_five()
    await apply(pool, schema, cases)
    return cases


@pytest.fixture
async def client(cases, pool, schema) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    map_domain_errors(app)
    app.include_router(router)
    app.state.runtime = StandInRuntime(pool, schema, Settings(environment="test", small_number_threshold=2))
    app.dependency_overrides[today_utc] = lambda: TODAY
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=trusting_test_tokens(app)),
                                 base_url="http://journeys") as client:
        yield client


async def test_a_shown_variant_lists_its_young_peoples_journeys_longest_first(client, cases):
    answer = await client.get("/pathway-map/journeys", params={"variant": ASSESSED}, headers=bearer("analyst"))
    two = await client.get("/pathway-map/journeys", params={"variant": ASSESSED, "limit": 2},
                           headers=bearer("commissioner"))

    assert answer.status_code == 200, answer.text
    assert (answer.json()["variant"], answer.json()["young_people"]) == (["presentation", "assessment"], 3)
    open_one, closed_later, closed_first = cases[1], cases[2], cases[0]
    assert [(j["person_ref"], j["end_to_end_days"], j["open"], j["cost_pence"]) for j in answer.json()["journeys"]] == [
        (str(open_one.person_ref), (TODAY - d(2, 20)).days, True, 0), (str(closed_later.person_ref), 28, False, 0),
        (str(closed_first.person_ref), 18, False, 0)]
    assert (two.json()["young_people"], len(two.json()["journeys"])) == (3, 2)


async def test_a_suppressed_variant_is_a_404_with_its_reason_and_so_is_one_nobody_took(client):
    alone = await client.get("/pathway-map/journeys", params={"variant": "presentation"}, headers=bearer("analyst"))
    mediated = await client.get("/pathway-map/journeys", params={"variant": "presentation > prevention"},
                                headers=bearer("admin"))
    nobody = await client.get("/pathway-map/journeys", params={"variant": "presentation > panel"},
                              headers=bearer("analyst"))
    not_yet = await client.get("/pathway-map/journeys", params={"variant": ASSESSED, "as_of": "2025-02-28"},
                               headers=bearer("analyst"))
    the_map = await client.get("/pathway-map", headers=bearer("analyst"))

    assert [(row["variant"], row["suppressed"]) for row in the_map.json()["variants"]] == [
        (["presentation", "assessment"], False), (["other variants"], True)]
    assert (alone.status_code, alone.json()["detail"][0]["type"]) == (404, "VariantSuppressed")
    assert "fewer than 2 young people" in alone.json()["detail"][0]["msg"]
    assert (mediated.status_code, mediated.json()["detail"][0]["type"]) == (404, "VariantSuppressed")
    assert (nobody.status_code, nobody.json()["detail"][0]["type"]) == (404, "VariantNotInMap")
    assert (not_yet.status_code, not_yet.json()["detail"][0]["type"]) == (404, "VariantNotInMap")


@pytest.mark.parametrize(("chosen", "shown"), [
    ({}, True), ({"age_band": "16-17"}, True), ({"age_band": "18-21"}, False), ({"area": "west-kent"}, True),
    ({"area": "east-kent"}, False), ({"legal_status": "not_looked_after"}, True), ({"legal_status": "eligible"}, False),
    ({"district": "maidstone", "cohort": "care_leaver"}, False)],
    ids=lambda value: ",".join(f"{k}={v}" for k, v in value.items()) or "none" if isinstance(value, dict) else "")
async def test_a_variant_is_listed_exactly_when_the_pathway_map_of_the_same_filters_shows_it(client, chosen, shown):
    the_map = await client.get("/pathway-map", params=chosen, headers=bearer("analyst"))
    listed = await client.get("/pathway-map/journeys", params={**chosen, "variant": ASSESSED},
                              headers=bearer("analyst"))

    assert the_map.status_code == 200, the_map.text
    on_the_map = {" > ".join(row["variant"]): row["young_people"] for row in the_map.json()["variants"]
                  if not row["suppressed"]}
    assert (ASSESSED in on_the_map) is shown
    if shown:
        assert listed.status_code == 200, listed.text
        assert listed.json()["young_people"] == len(listed.json()["journeys"]) == on_the_map[ASSESSED] == 3
    else:
        assert listed.status_code == 404, listed.text


async def test_the_journeys_of_a_variant_admit_and_refuse_the_roles_the_pathway_map_does(client):
    for role in Role:
        headers = bearer(role.value, **CLAIMS.get(role, {}))
        the_map = await client.get("/pathway-map", headers=headers)
        listed = await client.get("/pathway-map/journeys", params={"variant": ASSESSED}, headers=headers)
        assert (role, listed.status_code) == (role, the_map.status_code), listed.text
        assert listed.status_code in (200, 403)
    officer = bearer("district_officer", district="dover")
    elsewhere = await client.get("/pathway-map/journeys", params={"variant": ASSESSED, "district": "maidstone"},
                                 headers=officer)
    own = await client.get("/pathway-map/journeys", params={"variant": ASSESSED}, headers=officer)
    anonymous = await client.get("/pathway-map/journeys", params={"variant": ASSESSED})

    assert elsewhere.status_code == 403
    assert (own.status_code, own.json()["detail"][0]["type"]) == (404, "VariantNotInMap")  # Dover has no one
    assert anonymous.status_code == 401


async def test_limit_the_referral_period_and_the_area_are_checked(client):
    too_many = await client.get("/pathway-map/journeys", params={"variant": ASSESSED, "limit": 501},
                                headers=bearer("analyst"))
    no_area = await client.get("/pathway-map/journeys", params={"variant": ASSESSED, "area": "narnia"},
                               headers=bearer("analyst"))
    backwards = await client.get("/pathway-map/journeys", params={
        "variant": ASSESSED, "referred_from": "2025-03-01", "referred_to": "2025-02-01"}, headers=bearer("analyst"))

    assert too_many.status_code == 422 and too_many.json()["detail"][0]["loc"] == ["query", "limit"]
    assert backwards.status_code == 422 and backwards.json()["detail"][0]["type"] == "range_not_allowed"
    assert no_area.status_code == 422 and no_area.json()["detail"][0]["type"] == "unknown_area"


@pytest.fixture
async def files() -> AsyncIterator[httpx.AsyncClient]:
    """The journeys routes with no runtime: the page and its files need none."""
    app = FastAPI()
    app.include_router(router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://journeys") as client:
        yield client


async def test_the_page_and_plotly_are_served_with_no_token_and_plotly_is_cached_long(files):
    page = await files.get("/journey-map")
    sources = [part.split('"', 1)[0] for part in page.text.split('src="')[1:]]
    plotly = await files.get("/" + next(src for src in sources if "plotly.min.js" in src))
    script = await files.get("/" + next(src for src in sources if "journey-map.js" in src))
    unknown = await files.get("/journey-map/files/secrets.txt")

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html") and "{{" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<option value="maidstone">' in page.text and '<option value="16-17">' in page.text
    assert plotly.status_code == 200 and plotly.headers["content-type"].startswith("text/javascript")
    assert plotly.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "plotly.js v" in plotly.text[:200] and len(plotly.content) > 1_000_000
    assert script.status_code == 200 and "pathway-map/journeys" in script.text
    assert unknown.status_code == 404
