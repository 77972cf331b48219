"""The panel agenda, read from the running referral service after HTTP writes (duties: test_duties_clock.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx

from tests.e2e.helpers import post_referral

TODAY = datetime.now(UTC).date()
"""Fixed once, so every moment a test writes and then checks is the same even if midnight passes."""


def days_ago(days: int, hour: int = 10) -> datetime:
    """A moment `days` days before TODAY (UTC): in the past, so never refused as dated in the future."""
    day = TODAY - timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


class CaseWorker:
    """Makes referrals and records case changes over HTTP, keeping the position of the last write."""

    def __init__(self, referral: httpx.Client):
        self.referral = referral
        self.position = ""

    def refer(self, district: str, referred: datetime) -> str:
        """A 17-year-old presenting in `district` (the helper's default cohort is homeless_16_17)."""
        born = date(referred.year - 17, referred.month, 1)
        written = post_referral(self.referral, district=district, occurred_at=referred.isoformat(),
                                date_of_birth=born.isoformat())
        self.position = written["position"]
        return written["case_id"]

    def record(self, case_id: str, change: str, occurred_at: datetime, **facts) -> None:
        response = self.referral.post(f"/cases/{case_id}/{change}", json={"occurred_at": occurred_at.isoformat(),
                                                                           **facts})
        assert response.status_code == 200, (change, response.text)
        self.position = response.json()["position"]

    def assess(self, case_id: str, on: datetime, band: str, level: str = "high") -> None:
        self.record(case_id, "assessments", on, support_needs=["managing_money"], support_level=level,
                    risk="medium", priority_band=band)

    def decide(self, case_id: str, on: datetime, decision: str) -> None:
        self.record(case_id, "panel-decisions", on, decision=decision, panel_date=on.date().isoformat())

    def close(self, case_id: str, on: datetime) -> None:
        self.record(case_id, "closure", on, reason="moved_on")

    def decide_eligibility(self, case_id: str, on: datetime, eligible: bool = True) -> None:
        self.record(case_id, "eligibility", on, eligible=eligible)


def test_the_panel_agenda_lists_assessed_cases_awaiting_a_decision_by_band_then_longest_wait(referral):
    worker = CaseWorker(referral)
    band_b, band_a_recent, deferred, allocated, closed = (worker.refer("pendle", days_ago(40)) for _ in range(5))
    worker.assess(band_b, days_ago(20), "B", level="low")
    worker.assess(band_a_recent, days_ago(10), "A")
    worker.assess(deferred, days_ago(15), "A", level="medium")
    worker.decide(deferred, days_ago(5), "defer")
    worker.assess(allocated, days_ago(30), "A")
    worker.decide(allocated, days_ago(3), "allocate_service")
    worker.assess(closed, days_ago(30), "A")
    worker.close(closed, days_ago(2))
    elsewhere = worker.refer("wyre", days_ago(40))
    worker.assess(elsewhere, days_ago(25), "A")

    response = referral.get("/panel-agenda", params={"district": "pendle", "after": worker.position})

    assert response.status_code == 200, response.text
    agenda = response.json()
    as_of = date.fromisoformat(agenda["as_of"])
    assert [c["case_id"] for c in agenda["cases"]] == [deferred, band_a_recent, band_b]
    waits = {c["case_id"]: (c["awaiting_panel_since"], c["days_waiting"]) for c in agenda["cases"]}
    for case_id, since in ((deferred, days_ago(15)), (band_a_recent, days_ago(10)), (band_b, days_ago(20))):
        assert datetime.fromisoformat(waits[case_id][0]) == since
        assert waits[case_id][1] == (as_of - since.date()).days
    first = agenda["cases"][0]
    assert (first["priority_band"], first["support_level"], first["last_panel_decision"]) == ("A", "medium", "defer")
    assert first["district"] == "pendle" and first["cohort"] == "homeless_16_17"
    assert "date_of_birth" not in response.text
    everywhere = referral.get("/panel-agenda", params={"after": worker.position}).json()
    assert elsewhere in [c["case_id"] for c in everywhere["cases"]]


def test_the_caseload_reads_refuse_an_unknown_district_a_duty_not_known_and_a_position_not_followed(referral):
    unknown = referral.get("/panel-agenda", params={"district": "atlantis"})
    no_such_duty = referral.get("/duties-clock", params={"duty": "s195"})
    not_followed = referral.get("/duties-clock", params={"after": "journeys:1"})

    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["query", "district"]
    assert no_such_duty.status_code == 422 and no_such_duty.json()["detail"][0]["loc"] == ["query", "duty"]
    assert not_followed.status_code == 422 and not_followed.json()["detail"][0]["follows"] == ["referral"]
    assert set(referral.get("/health").json()["projection_lag"]) == {"caseload", "emergency_placements",
                                                                     "mediation_returns", "case_ages"}
