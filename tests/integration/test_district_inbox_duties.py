"""The district inbox on real PostgreSQL takes homelessness duties and return-home follow-ups as message kinds,
refusing them with the same named reasons as the HTTP routes, and storing nothing of a refused message's change."""

from __future__ import annotations

import json
import uuid

import pytest

from services.referral.district_inbox import Arrival, DistrictInbox
from shared.contracts.inbound import MessageAccepted, MessageRejected
from shared.contracts.vocabulary import Duty, DutyEndReason

REFERRED = "2026-01-05T09:00:00Z"


@pytest.fixture
def inbox(referrals_store, schema):
    inbox = DistrictInbox(referrals_store, schema, give_up_after=3)
    inbox.prepare()
    return inbox


class District:
    """Sends one case's messages to the inbox, as the district of `ref` would, one stream sequence each."""

    def __init__(self, inbox: DistrictInbox, ref: str):
        self.inbox, self.ref, self.sequence = inbox, ref, 0

    def send(self, kind: str, **facts):
        self.sequence += 1
        body = {"district_ref": self.ref, "message_id": f"{self.ref}-{kind}-{uuid.uuid4().hex[:6]}"} | facts
        return self.inbox.receive(f"casetrack.ingest.preston.{kind}", json.dumps(body).encode(),
                                  sequence=self.sequence)

    def refer(self):
        return self.send("referral", occurred_at=REFERRED, gateway="district_housing_options",
                         cohort="homeless_16_17", presenting_reason="parental_eviction",
                         young_person={"given_name": f"Kit{uuid.uuid4().hex[:6]}", "family_name": "Duties",
                                       "date_of_birth": "2009-03-01"})


def reasons(answer) -> list[tuple[str | None, str]]:
    assert isinstance(answer.body, MessageRejected), answer.body
    return [(r.field, r.type) for r in answer.body.reasons]


def test_duties_arrive_as_messages_and_a_broken_rule_is_refused_by_name_with_nothing_saved(inbox, referrals_store):
    district = District(inbox, "PR-D1")
    case_id = district.refer().body.case_id
    started = district.send("duty-start", duty="relief", occurred_at="2026-01-06T09:00:00Z")
    assert isinstance(started.body, MessageAccepted) and started.body.case_id == case_id
    before = referrals_store.position()

    too_early = district.send("duty-end", duty="relief", reason="relief_period_ended",
                              occurred_at="2026-02-20T09:00:00Z")
    wrong_reason = district.send("duty-end", duty="relief", reason="became_homeless",
                                 occurred_at="2026-03-10T09:00:00Z")
    main_too_soon = district.send("duty-start", duty="main", occurred_at="2026-03-10T09:00:00Z")
    not_a_duty = district.send("duty-start", duty="s193", occurred_at="2026-03-10T09:00:00Z")

    assert reasons(too_early) == [("occurred_at", "ReliefPeriodNotOver")]
    assert reasons(wrong_reason) == [("reason", "EndReasonNotForThisDuty")]
    assert reasons(main_too_soon) == [(None, "DutyStillRunning")]
    assert [field for field, _ in reasons(not_a_duty)] == ["duty"]
    assert referrals_store.position() == before  # nothing of a refused change is stored

    ended = district.send("duty-end", duty="relief", reason="relief_period_ended", occurred_at="2026-03-10T09:00:00Z")
    main = district.send("duty-start", duty="main", occurred_at="2026-03-12T09:00:00Z")
    assert isinstance(ended.body, MessageAccepted) and isinstance(main.body, MessageAccepted)
    case = referrals_store.get_case(case_id)
    assert case.running_duty[0] is Duty.main
    assert case.last_duty_ended[:2] == (Duty.relief, DutyEndReason.relief_period_ended)


def test_a_return_home_is_followed_up_by_message_on_the_closed_case_once_at_each_point(inbox, referrals_store):
    district = District(inbox, "PR-M1")
    case_id = district.refer().body.case_id
    district.send("mediation-attempt", occurred_at="2026-01-07T09:00:00Z")
    district.send("mediation-outcome", outcome="returned_home", occurred_at="2026-01-20T09:00:00Z")
    closed = district.send("closure", reason="returned_home", occurred_at="2026-01-21T09:00:00Z")
    assert isinstance(closed.body, MessageAccepted)

    early = district.send("return-home-follow-up", attempt=1, months_after=3, still_at_home=True,
                          occurred_at="2026-03-01T09:00:00Z")
    at_3 = district.send("return-home-follow-up", attempt=1, months_after=3, still_at_home=True,
                         occurred_at="2026-04-20T09:00:00Z")
    again = district.send("return-home-follow-up", attempt=1, months_after=3, still_at_home=False,
                          occurred_at="2026-04-21T09:00:00Z")
    no_such = district.send("return-home-follow-up", attempt=2, months_after=6, still_at_home=True,
                            occurred_at="2026-07-21T09:00:00Z")
    at_5 = district.send("return-home-follow-up", attempt=1, months_after=5, still_at_home=True,
                         occurred_at="2026-07-21T09:00:00Z")

    assert reasons(early) == [("occurred_at", "FollowUpNotYetDue")]
    assert isinstance(at_3.body, MessageAccepted) and at_3.body.case_id == case_id
    assert reasons(again) == [(None, "ReturnHomeAlreadyFollowedUp")]
    assert reasons(no_such) == [("attempt", "NoReturnHomeToFollowUp")]
    assert [field for field, _ in reasons(at_5)] == ["months_after"]
    assert referrals_store.get_case(case_id).return_home_follow_ups == {(1, 3)}


def test_a_batch_keeps_its_order_a_refused_duty_between_accepted_ones(inbox, referrals_store):
    district = District(inbox, "PR-B1")
    district.refer()
    bodies = [("duty-start", {"duty": "prevention", "occurred_at": "2026-01-06T09:00:00Z"}),
              ("duty-start", {"duty": "relief", "occurred_at": "2026-01-07T09:00:00Z"}),
              ("duty-end", {"duty": "prevention", "reason": "became_homeless", "occurred_at": "2026-02-01T09:00:00Z"}),
              ("duty-start", {"duty": "relief", "occurred_at": "2026-02-01T09:00:00Z"})]
    arrivals = [Arrival(f"casetrack.ingest.preston.{kind}",
                        json.dumps({"district_ref": "PR-B1", "message_id": f"PR-B1-batch-{n}"} | facts).encode(),
                        sequence=500 + n)
                for n, (kind, facts) in enumerate(bodies)]

    done = inbox.receive_all(arrivals, {})

    kinds = [type(done.answers[500 + n].body).__name__ for n in range(len(bodies))]
    assert kinds == ["MessageAccepted", "MessageRejected", "MessageAccepted", "MessageAccepted"]
    assert [r.type for r in done.answers[501].body.reasons] == ["DutyStillRunning"]
