"""Every route of every service declares who may call it (`requires(...)`, or PUBLIC for health and readiness and the
journey map page's files, which hold no data), and the roles declared are the ones the services' READMEs promise."""

from __future__ import annotations

import importlib

import pytest

from shared.auth import EVERY_ROLE, Role, declared_roles, routes_of
from shared.settings import SERVICES, Settings

R = Role
CASE_WORKERS = {R.district_officer, R.childrens_services, R.admin}
PLACEMENT_WRITERS = {R.provider, R.district_officer, R.childrens_services, R.admin}
WATCHING_CASES = {R.district_officer, R.childrens_services, R.commissioner, R.admin}
PUBLIC: set[Role] = set()
JOURNEY_MAP_PAGE = ("/journey-map", "/journey-map/files/{name}")
"""The journey map page and its script, styles and Plotly: no data (the page reads it with the caller's token)."""

EXPECTED: dict[tuple[str, str, str], set[Role]] = {
    **{(service, "GET", path): PUBLIC for service in SERVICES for path in ("/health", "/ready")},
    **{(service, "GET", "/projections"): {R.admin} for service in SERVICES},
    **{(service, "POST", "/projections/{name}/rebuild"): {R.admin} for service in SERVICES},
    ("referral", "POST", "/referrals"): CASE_WORKERS,
    **{("referral", "POST", f"/cases/{{case_id}}/{step}"): CASE_WORKERS for step in (
        "eligibility", "mediation-attempts", "mediation-outcomes", "assessments", "closure", "reopening",
        "person-link", "person-unlink", "possible-matches/{candidate_person_ref}/dismissal",
        "duty-starts", "duty-ends", "return-home-follow-ups", "legal-status", "flags", "flag-endings")},
    ("referral", "GET", "/cases/{case_id}/safeguarding-flags"): {R.childrens_services, R.district_officer},
    ("referral", "POST", "/birthdays"): {R.admin},
    ("referral", "POST", "/cases/{case_id}/panel-decisions"): {R.panel_member, R.admin},
    ("referral", "GET", "/cases/{case_id}"): CASE_WORKERS | {R.panel_member, R.data_protection_officer},
    ("referral", "GET", "/people/possible-matches"): CASE_WORKERS,
    ("referral", "GET", "/people/{person_ref}/personal-data"): {R.district_officer, R.childrens_services,
                                                                R.data_protection_officer},
    ("referral", "DELETE", "/people/{person_ref}/personal-data"): {R.data_protection_officer},
    ("referral", "GET", "/districts/{district}/rejected-messages"): {R.district_officer, R.admin},
    ("referral", "GET", "/panel-agenda"): {R.district_officer, R.panel_member, R.childrens_services, R.admin},
    ("referral", "GET", "/duties-clock"): {R.district_officer, R.panel_member, R.childrens_services,
                                           R.commissioner, R.admin},
    ("referral", "GET", "/mediation-returns"): {R.analyst, R.commissioner, R.district_officer,
                                                R.childrens_services, R.admin},
    ("placement", "POST", "/providers"): {R.commissioner, R.admin},
    ("placement", "POST", "/schemes"): {R.commissioner, R.admin},
    ("placement", "POST", "/schemes/{scheme_id}/capacity"): {R.provider, R.commissioner, R.admin},
    **{("placement", "POST", path): {R.commissioner, R.admin} for path in (
        "/schemes/{scheme_id}/stay-limits", "/schemes/{scheme_id}/ofsted-registrations",
        "/schemes/{scheme_id}/ofsted-registrations/{registration_number}/ending")},
    **{("placement", "GET", path): set(EVERY_ROLE) for path in (
        "/providers", "/schemes", "/schemes/{scheme_id}", "/schemes/{scheme_id}/occupancy", "/vacancies",
        "/average-stays")},
    ("placement", "POST", "/placements"): PLACEMENT_WRITERS,
    **{("placement", "POST", f"/placements/{{placement_id}}/{step}"): PLACEMENT_WRITERS for step in (
        "moves", "ending", "breakdown", "bed-and-breakfast-nights")},
    ("placement", "GET", "/placements/{placement_id}"): PLACEMENT_WRITERS | {R.commissioner},
    ("placement", "GET", "/young-people/{person_ref}/placement"): PLACEMENT_WRITERS | {R.commissioner},
    ("placement", "GET", "/stays-over-limit"): WATCHING_CASES,
    ("placement", "GET", "/cases-awaiting-placement"): WATCHING_CASES,
    ("placement", "GET", "/cases/{case_id}"): WATCHING_CASES,
    ("placement", "POST", "/floating-support"): PLACEMENT_WRITERS,
    ("placement", "POST", "/floating-support/{episode_id}/ending"): PLACEMENT_WRITERS,
    **{("placement", "GET", path): PLACEMENT_WRITERS | {R.commissioner} for path in (
        "/floating-support/{episode_id}", "/young-people/{person_ref}/floating-support", "/open-floating-support")},
    ("placement", "GET", "/destinations-not-known"): WATCHING_CASES,
    ("journeys", "GET", "/journeys/{case_id}"): {R.analyst, R.commissioner, R.auditor, R.district_officer, R.admin},
    ("journeys", "GET", "/journey-reads"): {R.admin},
    ("journeys", "GET", "/pathway-map"): {R.analyst, R.commissioner, R.district_officer, R.admin},
    ("journeys", "GET", "/pathway-map/journeys"): {R.analyst, R.commissioner, R.district_officer, R.admin},
    **{("journeys", "GET", path): PUBLIC for path in JOURNEY_MAP_PAGE},
    ("journeys", "GET", "/young-people/{person_ref}/journey"): {R.analyst, R.commissioner, R.auditor,
                                                                R.district_officer, R.admin},
    ("journeys", "GET", "/cases-by-district"): {R.analyst, R.commissioner, R.finance_officer, R.auditor,
                                                R.district_officer, R.childrens_services, R.admin},
    **{("journeys", "GET", path): {R.analyst, R.commissioner, R.childrens_services, R.district_officer, R.admin}
       for path in ("/counts-by-status", "/bed-and-breakfast-nights-by-age")},
    **{("outcomes", "POST", f"/support-episodes/{{episode_id}}/{step}"): {R.provider, R.childrens_services, R.admin}
       for step in ("support-plan", "reviews", "departure-outcomes")},
    **{("outcomes", "GET", path): {R.provider, R.childrens_services, R.district_officer, R.commissioner, R.admin}
       for path in ("/support-episodes", "/support-episodes/{episode_id}")},
    **{("outcomes", "GET", path): {R.commissioner, R.analyst, R.finance_officer, R.auditor, R.district_officer,
                                   R.admin}
       for path in ("/kpi1", "/kpi2", "/destinations", "/outcomes-table", "/returns", "/mediation-sustained")},
    **{("finance", "POST", path): {R.commissioner, R.finance_officer, R.admin} for path in (
        "/contracts", "/contracts/{contract_id}/prices", "/contracts/{contract_id}/funding", "/budgets",
        "/individual-service-funds", "/individual-service-funds/{fund_id}/spending")},
    **{("finance", "GET", path): {R.commissioner, R.finance_officer, R.analyst, R.auditor, R.admin} for path in (
        "/contracts", "/contracts/{contract_id}", "/budgets", "/individual-service-funds/{fund_id}")},
    **{("finance", "GET", path): {R.commissioner, R.finance_officer, R.analyst, R.auditor, R.admin}
       for path in ("/costs", "/void-costs", "/spend-by-funding-stream", "/unit-costs", "/unfunded-stays",
                    "/forecast")},
    ("finance", "POST", "/cost-run"): {R.finance_officer, R.admin},
}

PERSONAL_DATA = {("referral", "GET", "/people/{person_ref}/personal-data"),
                 ("referral", "DELETE", "/people/{person_ref}/personal-data")}


def declared() -> dict[tuple[str, str, str], frozenset[Role] | None]:
    """Each (service, method, path) of every service's app and the roles it declares (None: no declaration)."""
    routes = {}
    for service in SERVICES:
        app = importlib.import_module(f"services.{service}.bootstrap").build(Settings(environment="test"))
        for method, path, route in routes_of(app):
            routes[(service, method, path)] = declared_roles(route)
    return routes


ROUTES = declared()


def test_every_route_of_every_service_declares_who_may_call_it():
    undeclared = sorted(route for route, roles in ROUTES.items() if roles is None)
    assert not undeclared, f"routes without requires(...) or PUBLIC: {undeclared}"


def test_the_only_public_routes_are_health_readiness_and_the_journey_map_pages_files():
    assert sorted(path for (_, _, path), roles in ROUTES.items() if roles == frozenset()) == \
        sorted(["/health", "/ready"] * len(SERVICES) + list(JOURNEY_MAP_PAGE))


@pytest.mark.parametrize("route", sorted(ROUTES), ids=lambda route: " ".join(route))
def test_each_route_admits_the_roles_its_table_gives(route):
    assert route in EXPECTED, f"{route} is not in the table of roles: add it (and to its service's README)"
    assert set(ROUTES[route]) == EXPECTED[route]


def test_every_route_in_the_table_exists():
    assert sorted(set(EXPECTED) - set(ROUTES)) == []


def test_an_analyst_is_never_let_near_personal_data():
    assert all(Role.analyst not in ROUTES[route] for route in PERSONAL_DATA)


def test_only_the_data_protection_officer_erases_personal_data():
    deletes = {route: roles for route, roles in ROUTES.items() if route[1] == "DELETE"}
    assert deletes == {("referral", "DELETE", "/people/{person_ref}/personal-data"): {Role.data_protection_officer}}
