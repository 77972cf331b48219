"""The three duties on the clock, and a return home followed up, on the running system (real NATS and PostgreSQL)
after HTTP writes: each read waits for the position of the last write, never for time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx

from tests.e2e.helpers import auth_headers, post_referral

TODAY = datetime.now(UTC).date()


def days_ago(days: int, hour: int = 10) -> datetime:
    day = TODAY - timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


class CaseWorker:
    """Refers young people and records what happens to their cases over HTTP, keeping the last write's position."""

    def __init__(self, referral: httpx.Client):
        self.referral = referral
        self.position = ""

    def refer(self, district: str, referred: datetime) -> str:
        born = date(referred.year - 17, referred.month, 1)
        written = post_referral(self.referral, district=district, occurred_at=referred.isoformat(),
                                date_of_birth=born.isoformat())
        self.position = written["position"]
        return written["case_id"]

    def post(self, case_id: str, change: str, occurred_at: datetime, **facts) -> httpx.Response:
        return self.referral.post(f"/cases/{case_id}/{change}", json={"occurred_at": occurred_at.isoformat(), **facts})

    def record(self, case_id: str, change: str, occurred_at: datetime, **facts) -> None:
        response = self.post(case_id, change, occurred_at, **facts)
        assert response.status_code == 200, (change, response.text)
        self.position = response.json()["position"]


def test_the_three_duties_on_the_clock(system, referral):
    worker = CaseWorker(referral)
    prevention, relief, main = (worker.refer("burnley", days_ago(120)) for _ in range(3))
    worker.record(prevention, "eligibility", days_ago(119), eligible=True)
    worker.record(prevention, "duty-starts", days_ago(70), duty="prevention")
    worker.record(relief, "duty-starts", days_ago(60), duty="relief")
    worker.record(main, "duty-starts", days_ago(100), duty="relief")
    worker.record(main, "duty-ends", days_ago(40), duty="relief", reason="relief_period_ended")
    worker.record(main, "duty-starts", days_ago(25), duty="main")
    elsewhere = worker.refer("wyre", days_ago(100))
    worker.record(elsewhere, "duty-starts", days_ago(90), duty="relief")

    officer = httpx.Client(base_url=str(referral.base_url), timeout=10,
                           headers=auth_headers(system, role="district_officer", district="burnley"))
    with officer:
        response = officer.get("/duties-clock", params={"after": worker.position})
        forbidden = officer.get("/duties-clock", params={"district": "wyre"})

    assert response.status_code == 200, response.text
    clock = response.json()
    as_of = date.fromisoformat(clock["as_of"])
    assert clock["district"] == "burnley"
    by_case = {entry["case_id"]: entry for entry in clock["cases"]}
    assert [entry["case_id"] for entry in clock["cases"]] == [relief, prevention, main]
    assert elsewhere not in by_case and forbidden.status_code == 403

    running_past_56 = by_case[prevention]
    assert (running_past_56["duty"], running_past_56["state"], running_past_56["overdue"]) == (
        "prevention", "review", False)
    assert running_past_56["days_running"] == (as_of - days_ago(70).date()).days >= 56
    assert running_past_56["main_duty_decision_due_on"] is None

    overdue = by_case[relief]
    decision_due = days_ago(60).date() + timedelta(days=56)
    assert (overdue["duty"], overdue["state"], overdue["overdue"]) == ("relief", "overdue", True)
    assert overdue["main_duty_decision_due_on"] == decision_due.isoformat()
    assert overdue["days_left"] == (decision_due - as_of).days < 0

    running = by_case[main]
    assert (running["duty"], running["state"], running["overdue"]) == ("main", "running", False)
    assert running["days_running"] == (as_of - days_ago(25).date()).days
    assert "date_of_birth" not in response.text and "given_name" not in response.text
    assert referral.get(f"/cases/{main}").json()["duty"]["duty"] == "main"


def test_duty_rules_are_refused_by_name_and_a_case_with_a_running_duty_is_not_closed(referral):
    worker = CaseWorker(referral)
    case = worker.refer("pendle", days_ago(80))
    worker.record(case, "duty-starts", days_ago(30), duty="relief")

    too_early = worker.post(case, "duty-ends", days_ago(1), duty="relief", reason="relief_period_ended")
    wrong_reason = worker.post(case, "duty-ends", days_ago(1), duty="relief", reason="became_homeless")
    main_too_soon = worker.post(case, "duty-starts", days_ago(1), duty="main")
    close = worker.post(case, "closure", days_ago(1), reason="duty_ended")

    assert (too_early.status_code, too_early.json()["detail"][0]["type"]) == (422, "ReliefPeriodNotOver")
    assert (wrong_reason.status_code, wrong_reason.json()["detail"][0]["type"]) == (422, "EndReasonNotForThisDuty")
    assert (main_too_soon.status_code, main_too_soon.json()["detail"][0]["type"]) == (409, "DutyStillRunning")
    assert (close.status_code, close.json()["detail"][0]["type"]) == (409, "DutyStillRunning")


def test_a_return_home_is_followed_up_and_analysts_read_how_many_lasted(system, referral):
    worker = CaseWorker(referral)
    home, not_home = worker.refer("rossendale", days_ago(210)), worker.refer("rossendale", days_ago(210))
    worker.record(home, "mediation-attempts", days_ago(205))
    worker.record(home, "mediation-outcomes", days_ago(200), outcome="returned_home")
    worker.record(home, "closure", days_ago(199), reason="returned_home")
    worker.record(not_home, "mediation-attempts", days_ago(205))
    worker.record(not_home, "mediation-outcomes", days_ago(200), outcome="not_possible")
    worker.record(home, "return-home-follow-ups", days_ago(100), attempt=1, months_after=3, still_at_home=True)
    worker.record(home, "return-home-follow-ups", days_ago(10), attempt=1, months_after=6, still_at_home=False)
    again = worker.post(home, "return-home-follow-ups", days_ago(5), attempt=1, months_after=6, still_at_home=True)
    not_returned = worker.post(not_home, "return-home-follow-ups", days_ago(5), attempt=1, months_after=3,
                               still_at_home=True)

    assert (again.status_code, again.json()["detail"][0]["type"]) == (409, "ReturnHomeAlreadyFollowedUp")
    assert (not_returned.status_code, not_returned.json()["detail"][0]["type"]) == (409, "NoReturnHomeToFollowUp")
    with httpx.Client(base_url=str(referral.base_url), timeout=10,
                      headers=auth_headers(system, role="analyst")) as analyst:
        response = analyst.get("/mediation-returns", params={"district": "rossendale", "after": worker.position})
    assert response.status_code == 200, response.text
    rate = response.json()
    assert (rate["concluded"], rate["returned_home"], rate["return_home_percent"]) == (2, 1, 50.0)
    assert [(p["months_after"], p["followed_up"], p["still_at_home"]) for p in rate["lasted"]] == [(3, 1, 1), (6, 1, 0)]
    assert "person_ref" not in response.text and home not in response.text
