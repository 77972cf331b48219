"""The journey map page in headless Chromium (Debian's `chromium`, driven by playwright; scripts/test installs it) on
the running system: what is on screen for an analyst whose token is in the URL fragment, the drill-down from a
variant to its journeys and from a journey to its steps, refusals explained, and no request to any other host.

The young people, written over HTTP: in Burnley five presented, assessed, allocated by the panel, placed in a foyer
and moved on as planned (a variant shown), three only presented and two presented and assessed (suppressed together,
pooled in `other variants`); in Pendle five presented and offered mediation; in Dover two presented (the total
suppressed too)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from shared.devservers import System
from tests.e2e.helpers import auth_headers, post_referral

TODAY = datetime.now(UTC).date()
WAIT_MS = 20_000
FOYER_VARIANT = "presentation > assessment > panel > supported:foyer > move_on:planned"
ON_SCREEN = "presentation → assessment → panel → supported (foyer) → move-on (planned)"


def days_ago(days: int, hour: int = 10) -> str:
    day = TODAY - timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC).isoformat()


def token_of(system: System, role: str = "analyst") -> str:
    return auth_headers(system, role)["Authorization"].removeprefix("Bearer ")


class Writer:
    """Writes referrals, case steps and placements over HTTP, keeping the position of each service's last write."""

    def __init__(self, referral: httpx.Client, placement: httpx.Client):
        self.referral, self.placement = referral, placement
        self.positions: dict[str, str] = {}
        self.given_names: list[str] = []

    def _kept(self, response: httpx.Response, status: int = 200) -> dict[str, Any]:
        assert response.status_code == status, response.text
        position = response.json()["position"]
        self.positions[position.split(":")[0]] = position
        return response.json()

    def refer(self, district: str, on: str) -> str:
        given = f"Sam{len(self.given_names)}Q{district[:3]}"
        self.given_names.append(given)
        written = post_referral(self.referral, district=district, occurred_at=on, given_name=given,
                                date_of_birth=(TODAY - timedelta(days=17 * 365 + 30)).isoformat())
        self.positions["referral"] = written["position"]
        return written["case_id"]

    def record(self, case_id: str, change: str, on: str, **facts: Any) -> None:
        self._kept(self.referral.post(f"/cases/{case_id}/{change}", json={"occurred_at": on, **facts}))

    def foyer(self, district: str) -> str:
        provider = self._kept(self.placement.post("/providers", json={
            "name": "Example Young People's Trust", "district": district}), 201)["provider_id"]
        return self._kept(self.placement.post("/schemes", json={
            "provider_id": provider, "name": "Burnley Foyer", "district": district, "provision_type": "foyer",
            "pathway_stage": "progression", "support_level": "medium", "support_hours_per_week": 10,
            "capacity_units": 10, "opened_on": (TODAY - timedelta(days=365)).isoformat()}), 201)["scheme_id"]

    def place_and_move_on(self, case_id: str, scheme_id: str, placed: str, ended: str) -> None:
        started = self._kept(self.placement.post("/placements", params={"after": self.positions["referral"]}, json={
            "case_id": case_id, "scheme_id": scheme_id, "route": "panel", "occurred_at": placed}), 201)
        self._kept(self.placement.post(f"/placements/{started['placement_id']}/ending", json={
            "planned": True, "destination": "social_rented", "occurred_at": ended}))


@dataclass
class Pathways:
    given_names: list[str]


@pytest.fixture(scope="module")
def pathways(system: System) -> Pathways:
    url = {service: system.services[service].url for service in ("referral", "placement", "journeys")}
    with httpx.Client(base_url=url["referral"], timeout=20, headers=auth_headers(system)) as referral, \
            httpx.Client(base_url=url["placement"], timeout=20, headers=auth_headers(system)) as placement, \
            httpx.Client(base_url=url["journeys"], timeout=30, headers=auth_headers(system)) as journeys:
        writer = Writer(referral, placement)
        foyer = writer.foyer("burnley")
        for _ in range(5):
            case = writer.refer("burnley", days_ago(60))
            writer.record(case, "assessments", days_ago(50, 9), support_needs=["managing_money"],
                          support_level="medium", risk="medium", priority_band="A")
            writer.record(case, "panel-decisions", days_ago(50), decision="allocate_service",
                          panel_date=days_ago(50)[:10])
            writer.place_and_move_on(case, foyer, days_ago(45), days_ago(10))
        for _ in range(3):
            writer.refer("burnley", days_ago(40))
        for _ in range(2):
            case = writer.refer("burnley", days_ago(40))
            writer.record(case, "assessments", days_ago(39), support_needs=["managing_money"],
                          support_level="low", risk="low", priority_band="B")
        for _ in range(5):
            writer.record(writer.refer("pendle", days_ago(30)), "mediation-attempts", days_ago(29))
        for _ in range(2):
            writer.refer("dover", days_ago(20))
        burnley = journeys.get("/pathway-map", params={"district": "burnley", "after": list(writer.positions.values())})
    assert burnley.status_code == 200, burnley.text
    assert [(row["variant"], row["young_people"]) for row in burnley.json()["variants"]] == [
        (FOYER_VARIANT.split(" > "), 5), (["other variants"], 5)]
    return Pathways(writer.given_names)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is not installed: scripts/test installs it (apt-get install chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium)  # never playwright's own download
        yield browser
        browser.close()


@dataclass
class Browsing:
    """A page of the journey map, and every request and error it made."""

    page: Page
    service: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def open(self, fragment: str) -> None:
        self.page.goto(f"{self.service}/journey-map#{fragment}")

    def shown(self, query: str) -> None:
        """Wait until the map read with `query` is on screen."""
        expect(self.page.locator("main#map")).to_have_attribute("data-shown-query", query, timeout=WAIT_MS)
        expect(self.page.locator("body")).to_have_attribute("data-state", "ready", timeout=WAIT_MS)

    def asked_only_the_service(self) -> None:
        hosts = {urlsplit(url).netloc for url in self.requests if not url.startswith(("data:", "blob:"))}
        assert hosts == {urlsplit(self.service).netloc}, self.requests
        assert self.errors == []


@pytest.fixture
def browsing(system: System, pathways: Pathways, browser: Browser) -> Iterator[Browsing]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    browsing = Browsing(page, system.services["journeys"].url)
    page.on("request", lambda request: browsing.requests.append(request.url))
    page.on("pageerror", lambda error: browsing.errors.append(str(error)))
    page.on("console", lambda message: browsing.errors.append(message.text) if message.type == "error" else None)
    yield browsing
    context.close()


def row_of(page: Page, variant: str):
    return page.locator(f'#variants tbody tr[data-variant="{variant}"]')


def test_the_map_draws_the_sankey_and_the_variant_table_with_small_numbers_suppressed(system, browsing, pathways,
                                                                                       tmp_path):
    page = browsing.page
    browsing.open(f"token={token_of(system)}&district=burnley")
    browsing.shown("district=burnley")

    labels = page.locator("#sankey svg .sankey-node .node-label")
    expect(labels).to_have_count(5)
    assert set(labels.all_text_contents()) == {"presentation", "assessment", "panel", "supported", "move-on"}
    foyer = row_of(page, FOYER_VARIANT)
    expect(foyer.locator("button.variant")).to_have_text(ON_SCREEN)
    expect(foyer.locator("td.young-people")).to_have_text("5")
    expect(page.locator("#variants tbody tr")).to_have_count(2)  # the suppressed variants pooled, their paths unseen
    expect(row_of(page, "other variants").locator("td").nth(1)).to_have_text("other variants (each suppressed)*")
    expect(row_of(page, "other variants").locator("td.young-people")).to_have_text("5")
    expect(page.locator("#variants tfoot td.young-people")).to_have_text("10")
    expect(page.locator("#cost-chart svg .xtick")).to_have_text(["#1"])  # one shown variant, its cost and outcome
    expect(page.locator("#cost-chart svg .legendtext")).to_have_text(
        ["Cost per planned move-on (£)", "Mean cost per young person (£)", "Ending in a planned move-on (%)"])
    assert "token=" not in page.url  # the token left the address bar for sessionStorage
    assert not any(name in page.content() for name in pathways.given_names)
    browsing.asked_only_the_service()
    page.screenshot(path=str(tmp_path / "journey-map.png"), full_page=True)


def test_changing_the_district_redraws_the_map(system, browsing):
    page = browsing.page
    browsing.open(f"token={token_of(system)}&district=burnley")
    browsing.shown("district=burnley")

    page.locator('#filters select[name="district"]').select_option("pendle")
    browsing.shown("district=pendle")

    expect(row_of(page, "presentation > prevention").locator("td.young-people")).to_have_text("5")
    expect(row_of(page, FOYER_VARIANT)).to_have_count(0)
    labels = page.locator("#sankey svg .sankey-node .node-label")
    expect(labels).to_have_count(2)
    assert set(labels.all_text_contents()) == {"presentation", "prevention"}
    browsing.asked_only_the_service()


def test_a_group_under_the_threshold_shows_fewer_than_five_never_a_number(system, browsing):
    page = browsing.page
    browsing.open(f"token={token_of(system)}&district=dover")
    browsing.shown("district=dover")

    suppressed = row_of(page, "other variants")
    expect(suppressed.locator("td.young-people")).to_have_text("fewer than 5")
    expect(page.locator("#variants tfoot td.young-people")).to_have_text("fewer than 5")
    for row in (suppressed, page.locator("#variants tfoot tr")):
        assert set(row.locator("td").all_inner_texts()) <= {
            "", "other variants (each suppressed)*", "All young people (total)", "fewer than 5", "suppressed"}
    expect(page.locator("#sankey-empty")).to_be_visible()
    expect(page.locator("#cost-empty")).to_be_visible()
    expect(page.locator("#summary")).to_contain_text("fewer than 5 young people")
    browsing.asked_only_the_service()


def test_a_variant_lists_its_journeys_and_a_journey_shows_its_steps(system, browsing, pathways):
    page = browsing.page
    browsing.open(f"token={token_of(system, 'commissioner')}&district=burnley")
    browsing.shown("district=burnley")

    row_of(page, FOYER_VARIANT).locator("button.variant").click()
    expect(page.locator("#drill")).to_have_attribute("data-variant", FOYER_VARIANT, timeout=WAIT_MS)
    people = page.locator("#variant-journeys tbody button.person")
    expect(people).to_have_count(5)
    chosen = people.first.inner_text()
    people.first.click()

    expect(page.locator("#journey")).to_have_attribute("data-person-ref", chosen, timeout=WAIT_MS)
    expect(page.locator("#journey-steps td.event-type")).to_have_text(
        ["ReferralMade", "AssessmentCompleted", "PanelDecisionMade", "PlacementStarted", "PlacementEnded"])
    expect(page.locator("#journey-summary")).to_contain_text(ON_SCREEN)
    assert not any(name in page.content() for name in pathways.given_names)
    browsing.asked_only_the_service()


def test_a_refused_token_or_filter_is_explained_on_the_page(system, browsing):
    page = browsing.page
    browsing.open(f"token={token_of(system)}")
    browsing.shown("")

    page.locator('#filters input[name="referred_to"]').fill("2020-01-01")
    page.locator('#filters input[name="referred_from"]').fill("2020-02-01")
    expect(page.locator("#message")).to_contain_text("The filters were refused (422)", timeout=WAIT_MS)
    expect(page.locator("#message")).to_contain_text("referred_to: referred_to is on or after referred_from")
    page.locator("#filters button[type=reset]").click()
    browsing.shown("")
    expect(page.locator("#message")).to_be_hidden()

    page.locator("#token").fill(token_of(system, "auditor"))
    page.locator("#token-form button[type=submit]").click()
    expect(page.locator("#message")).to_contain_text("Not allowed (403)", timeout=WAIT_MS)
    expect(page.locator("#message")).to_contain_text("the role auditor may not GET /pathway-map")
    page.locator("#token").fill("not-a-token")
    page.locator("#token-form button[type=submit]").click()
    expect(page.locator("#message")).to_contain_text("Not signed in (401)", timeout=WAIT_MS)
    browsing.errors = [error for error in browsing.errors if "the server responded with a status of" not in error]
    browsing.asked_only_the_service()
