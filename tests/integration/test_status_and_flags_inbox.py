"""District messages for legal status and flags on real PostgreSQL: applied like the HTTP routes, refused with the
same named reasons, nothing half-stored; and the case_ages read model the birthday sweep reads."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from services.referral.district_inbox import DistrictInbox
from services.referral.projections.case_ages import CaseAgesProjection
from shared.contracts.inbound import MessageAccepted, MessageRejected
from shared.projections import Recorded, prepare_projection
from tests.unit.builders import a_context
from tests.unit.test_status_and_flags_store import COUNTED_AS_18, a_case_referred_before_the_birthday

TODAY = datetime.now(UTC).date()
SEVENTEENTH = TODAY - timedelta(days=200)
SEQUENCES = itertools.count(1)


def born_on(birthday: date, years: int) -> date:
    return birthday.replace(year=birthday.year - years) if (birthday.month, birthday.day) != (2, 29) \
        else date(birthday.year - years, 3, 1)


def moment(days_ago: int) -> str:
    return f"{(TODAY - timedelta(days=days_ago)).isoformat()}T10:00:00Z"


def subject(kind: str) -> str:
    return f"casetrack.ingest.preston.{kind}"


@pytest.fixture
def inbox(referrals_store, schema):
    inbox = DistrictInbox(referrals_store, schema, give_up_after=3)
    inbox.prepare()
    return inbox


class District:
    """A district system sending messages about one case."""

    def __init__(self, inbox: DistrictInbox, ref: str):
        self.inbox, self.ref = inbox, ref

    def send(self, kind: str, **facts):
        sequence = next(SEQUENCES)
        body = {"district_ref": self.ref, "message_id": f"{self.ref}-{sequence}", **facts}
        return self.inbox.receive(subject(kind), json.dumps(body).encode(), sequence=sequence).body

    def refer(self, **facts):
        return self.send("referral", **({
            "occurred_at": moment(100), "gateway": "district_housing_options", "cohort": "homeless_16_17",
            "presenting_reason": "parental_eviction",
            "young_person": {"given_name": f"Sam{uuid.uuid4().hex[:6]}", "family_name": "Inbox",
                             "date_of_birth": born_on(SEVENTEENTH, 17).isoformat()}} | facts))


def reasons(answer) -> list[tuple]:
    assert isinstance(answer, MessageRejected), answer
    return [(r.field, r.type) for r in answer.reasons]


def test_a_district_records_a_section_20_accommodation_and_flags(inbox, referrals_store):
    district = District(inbox, "PR-S20")
    referred = district.refer()

    accepted = [district.send("legal-status", occurred_at=moment(90), legal_status="looked_after_section_20",
                              reason="southwark_assessment"),
                district.send("flag-raised", occurred_at=moment(80), flag="teenage_parent", dependants=1),
                district.send("flag-raised", occurred_at=moment(80), flag="exploitation"),
                district.send("flag-ended", occurred_at=moment(70), flag="exploitation")]

    assert all(isinstance(answer, MessageAccepted) for answer in accepted)
    assert "exploitation" not in "".join(answer.model_dump_json() for answer in accepted)
    case = referrals_store.get_case(referred.case_id)
    assert (case.legal_status.value, case.cohort.value) == ("looked_after_section_20", "looked_after_16_17")
    assert [row["flag"] for row in referrals_store.safeguarding.of_case(case.id)] == ["exploitation"]


@pytest.mark.parametrize(("kind", "facts", "expected"), [
    ("legal-status", {"legal_status": "former_relevant", "reason": "corrected"},
     [("legal_status", "LegalStatusDoesNotMatchAge")]),
    ("legal-status", {"legal_status": "relevant", "reason": "left_care", "cohort": "homeless_16_17"},
     [("cohort", "CohortDoesNotMatchLegalStatus")]),
    ("legal-status", {"legal_status": "child_in_need", "reason": "turned_18"},
     [("reason", "TurningEighteenIsRecordedByCasetrack")]),
    ("flag-raised", {"flag": "teenage_parent"}, [("dependants", "TeenageParentNeedsDependants")]),
    ("flag-raised", {"flag": "marac", "dependants": 2}, [("dependants", "DependantsOnlyForTeenageParent")]),
    ("flag-ended", {"flag": "mappa"}, [(None, "FlagNotRaised")]),
    ("flag-ended", {"flag": "rural"}, [(None, "FlagNotRaised")]),
], ids=["status impossible at 17", "cohort not of the status", "turning 18 by hand", "no dependants",
        "dependants on a safeguarding flag", "safeguarding flag not raised", "flag not raised"])
def test_a_message_breaking_a_status_or_flag_rule_is_refused_with_its_name_and_nothing_is_stored(
        inbox, referrals_store, kind, facts, expected):
    district = District(inbox, f"PR-{uuid.uuid4().hex[:6]}")
    referred = district.refer()
    position = referrals_store.position()

    answer = district.send(kind, occurred_at=moment(50), **facts)

    assert reasons(answer) == expected
    assert referrals_store.position() == position
    assert referrals_store.safeguarding.of_case(referred.case_id) == []


def test_a_referral_message_with_a_legal_status_impossible_at_its_age_is_refused(inbox, referrals_store):
    answer = District(inbox, "PR-LS").refer(cohort="care_leaver", legal_status="former_relevant")

    assert reasons(answer) == [("legal_status", "LegalStatusDoesNotMatchAge")]
    assert referrals_store.position() == 0


async def test_the_sweep_reads_the_dates_of_birth_of_only_the_cases_the_case_ages_read_model_names(
        pool, referrals_store, schema, monkeypatch):  # the pool makes the schema: first
    turning, _ = a_case_referred_before_the_birthday(referrals_store)
    young, _ = a_case_referred_before_the_birthday(referrals_store, birthday=TODAY + timedelta(days=500),
                                                   legal_status=None)
    adult, _ = a_case_referred_before_the_birthday(referrals_store, birthday=TODAY - timedelta(days=800),
                                                   legal_status=None)
    assert (young.age, adult.age) == (16, 19)
    async with pool.acquire() as conn:
        await prepare_projection(conn, schema, CaseAgesProjection())
        async with conn.transaction():
            await conn.execute(f"SET LOCAL search_path TO {schema}")
            notifications = referrals_store.recorder.select_notifications(1, 100)
            await CaseAgesProjection().apply(conn, [
                Recorded(referrals_store.mapper.to_domain_event(n), "CASETRACK_REFERRAL", n.id, n.id)
                for n in notifications])
            earliest = dict(await conn.fetch("SELECT case_id, counted_as_18_earliest FROM case_ages"))
    assert earliest[adult.id] is None and earliest[young.id] > TODAY
    assert earliest[turning.id].day == 1 and earliest[turning.id] <= COUNTED_AS_18  # a first of the month
    read = []
    dates_of_birth = referrals_store.vault.date_of_birth_of_case
    monkeypatch.setattr(referrals_store.vault, "date_of_birth_of_case",
                        lambda case_id: read.append(case_id) or dates_of_birth(case_id))

    cases, _ = referrals_store.record_birthdays(a_context(), on=TODAY)

    assert cases == [turning.id] and read == [turning.id]
    assert referrals_store.get_case(turning.id).age == 18
