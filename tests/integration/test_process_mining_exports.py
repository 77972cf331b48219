"""The process-mining exports of the journeys read models, loaded by pm4py: three hand-written journeys applied
through the journey projection on real PostgreSQL (a move between schemes with floating support alongside, a
breakdown with B&B nights recorded late, a young person linked to a person already known, late too), written as
OCEL 2.0 JSON and XES and read back by pm4py's own readers, with counts worked out by hand; `as_of`, the district
and referral period filters; and no personal detail given at referral anywhere in either file."""

from __future__ import annotations

import json
import warnings
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from services.journeys import exports
from services.journeys.projections.journeys import JourneyProjection
from shared.contracts import Event, parse_event
from shared.contracts.placement import BedAndBreakfastNightsRecorded
from shared.contracts.placement_vocabulary import Destination, ProvisionType
from shared.contracts.referral import PersonLinked
from shared.contracts.vocabulary import Cohort, LinkBasis, PanelDecision
from shared.projections import Recorded, prepare_projection
from tests.integration.case_events import ACase
from tests.integration.outcomes_events import AScheme, AStay, FloatingSupport, on
from tests.unit.builders import a_context, a_referral_request, a_young_person, referrals

AS_OF = date(2026, 3, 31)
LATE = datetime(2026, 4, 10, 9, tzinfo=on(AS_OF).tzinfo)
"""When the B&B nights and the link are recorded: after AS_OF."""


def recorded(event: Event, at: datetime | None = None) -> Event:
    """The event as recorded at `at` (five minutes after it happened if not said)."""
    return event.model_copy(update={"recorded_at": at or event.occurred_at + timedelta(minutes=5)})


class Journeys:
    """Three cases' events (two in Preston, one in Burnley) and what each export must hold."""

    def __init__(self) -> None:
        hostel = AScheme(district="preston")
        foyer = AScheme(ProvisionType.foyer, district="preston")
        floating = AScheme(ProvisionType.floating_support, district="preston")
        a, b, c = ACase("preston"), ACase("preston"), ACase("burnley")
        self.cases = {"a": a, "b": b, "c": c}
        stay_a = AStay(hostel, "preston", a.case_id, a.person_ref)
        support = FloatingSupport(floating, "preston", a.case_id, a.person_ref)
        stay_b = AStay(hostel, "preston", b.case_id, b.person_ref)
        self.first_person_of_c = c.person_ref
        referred_c = c.referred(on(date(2026, 3, 1)))
        c.person_ref = a.person_ref  # linked to the young person of case a
        linked = c._event(PersonLinked, on(date(2026, 3, 5)), previous_person_ref=self.first_person_of_c,
                          basis=LinkBasis.case_worker_decision)
        stay_c = AStay(foyer, "burnley", c.case_id, a.person_ref)
        alongside = support.started(date(2026, 2, 2)).model_copy(update={"in_placement_id": stay_a.placement_id})
        self.nights = BedAndBreakfastNightsRecorded(
            **stay_b._envelope(on(date(2026, 3, 1))), placement_id=stay_b.placement_id, scheme_id=hostel.scheme_id,
            first_night=date(2026, 3, 1), nights=3, cohort=Cohort.homeless_16_17)
        self.referral_events = [recorded(event) for event in (
            a.referred(on(date(2026, 1, 5))), a.assessed(on(date(2026, 1, 6))),
            a.decided(on(date(2026, 1, 9)), PanelDecision.allocate_service),
            b.referred(on(date(2026, 2, 10))), referred_c, b.closed(on(date(2026, 3, 20))))] + [recorded(linked, LATE)]
        self.placement_events = [recorded(event) for event in (
            stay_a.started(date(2026, 1, 12)), stay_a.moved(date(2026, 2, 1), foyer, planned=True, days=20),
            alongside, stay_b.started(date(2026, 2, 15)),
            stay_b.broke_down(date(2026, 2, 28), Destination.friends_or_family, days=13),
            stay_c.started(date(2026, 3, 6)),
            stay_a.ended(date(2026, 3, 10), Destination.private_rented, planned=True, days=37),
            support.ended(date(2026, 3, 12), Destination.private_rented, planned=True, days=38),
        )] + [recorded(self.nights, LATE)]

    def events(self) -> list[Event]:
        return self.referral_events + self.placement_events

    def of_case(self, name: str) -> list[Event]:
        return [event for event in self.events() if event.case_id == self.cases[name].case_id]


RELATIONS = {"ReferralMade": 2, "AssessmentCompleted": 2, "PanelDecisionMade": 2, "CaseClosed": 2,
             "PersonLinked": 3, "PlacementStarted": 5, "PlacementMoved": 6, "FloatingSupportStarted": 6,
             "PlacementEnded": 4, "PlacementBrokeDown": 4, "FloatingSupportEnded": 4,
             "BedAndBreakfastNightsRecorded": 4}
"""Objects each event is related to, by hand: its case and young person, then each id its facts name (a move:
placement, the scheme moved to and from, the new scheme's provider; floating support alongside a placement: its
episode, scheme, provider and the placement)."""


async def apply(pool, schema: str, events: list[Event]) -> None:
    """Apply the events through the journey projection as its runner would, each stream's in order."""
    projection = JourneyProjection()
    sequences: Counter = Counter()
    batch = []
    for event in events:
        stream = f"CASETRACK_{event.service.upper()}"
        sequences[stream] += 1
        batch.append(Recorded(event, stream, sequences[stream], sequences[stream]))
    async with pool.acquire() as conn:
        await prepare_projection(conn, schema, projection)
        async with conn.transaction():
            await conn.execute(f"SET LOCAL search_path TO {schema}")
            await projection.apply(conn, batch)


@pytest.fixture
async def journeys(pool, schema) -> Journeys:
    built = Journeys()
    await apply(pool, schema, built.events())
    return built


async def export_both(pool, schema: str, folder: Path, **chosen) -> tuple:
    """Both exports of the chosen journeys, written to `folder` and read back by pm4py."""
    folder.mkdir(parents=True, exist_ok=True)
    async with pool.acquire() as conn:
        document = await exports.ocel(conn, schema=schema, **chosen)
        log = await exports.xes(conn, schema=schema, **chosen)
    (folder / "journeys.jsonocel").write_text(json.dumps(document))
    (folder / "journeys.xes").write_text(log)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pm4py  # a test dependency only: the exports are written with the standard library

        return (pm4py.read_ocel2_json(str(folder / "journeys.jsonocel")),
                pm4py.read_xes(str(folder / "journeys.xes")))


def relations_per_event(ocel) -> dict[str, int]:
    return ocel.relations.groupby("ocel:eid").size().to_dict()


def expected_relations(events: list[Event]) -> dict[str, int]:
    return {str(event.event_id): RELATIONS[event.event_type] for event in events}


async def test_both_exports_load_in_pm4py_with_every_event_object_and_relation(journeys, pool, schema, tmp_path):
    ocel, log = await export_both(pool, schema, tmp_path)

    events = journeys.events()
    assert len(ocel.events) == len(events) == 16
    assert ocel.objects["ocel:type"].value_counts().to_dict() == {
        "young person": 3, "case": 3, "placement": 3, "scheme": 3, "provider": 3, "floating support episode": 1}
    assert relations_per_event(ocel) == expected_relations(events)
    qualifiers = Counter(ocel.relations["ocel:qualifier"])
    assert qualifiers["case"] == qualifiers["young person"] == 16
    assert qualifiers["from scheme"] == qualifiers["to scheme"] == qualifiers["alongside placement"] == 1
    assert qualifiers["previous person"] == 1
    moved = ocel.events[ocel.events["ocel:activity"] == "PlacementMoved"].iloc[0]
    assert (moved["planned"], moved["direction"], moved["provision_type"]) == (True, "step_down", "foyer")
    assert "placement_id" not in ocel.events.columns and "scheme_id" not in ocel.events.columns
    closed = ocel.object_changes[ocel.object_changes["ocel:field"] == "status"]
    assert list(closed["ocel:oid"]) == [f"case:{journeys.cases['b'].case_id}"] and list(closed["status"]) == ["closed"]

    assert log["case:concept:name"].nunique() == 3
    per_trace = log.groupby("case:concept:name").size().to_dict()
    assert per_trace == {str(case.case_id): len(journeys.of_case(name)) for name, case in journeys.cases.items()}
    assert per_trace == {str(journeys.cases["a"].case_id): 8, str(journeys.cases["b"].case_id): 5,
                         str(journeys.cases["c"].case_id): 3}
    trace_a = log[log["case:concept:name"] == str(journeys.cases["a"].case_id)]
    assert list(trace_a["concept:name"]) == [
        "ReferralMade", "AssessmentCompleted", "PanelDecisionMade", "PlacementStarted", "PlacementMoved",
        "FloatingSupportStarted", "PlacementEnded", "FloatingSupportEnded"]
    assert trace_a["time:timestamp"].is_monotonic_increasing
    assert set(log["case:person_ref"]) == {str(journeys.cases["a"].person_ref), str(journeys.cases["b"].person_ref)}
    ended = trace_a[trace_a["concept:name"] == "PlacementEnded"].iloc[0]
    assert (ended["destination"], ended["planned"], ended["days_in_placement"]) == ("private_rented", True, 37)


async def test_as_of_leaves_out_what_was_recorded_later_and_the_link_made_then(journeys, pool, schema, tmp_path):
    ocel, log = await export_both(pool, schema, tmp_path, as_of=AS_OF)

    kept = [event for event in journeys.events() if event.recorded_at.date() <= AS_OF]
    assert len(kept) == 14
    assert len(ocel.events) == len(log) == 14
    assert "BedAndBreakfastNightsRecorded" not in set(ocel.events["ocel:activity"]) | set(log["concept:name"])
    assert relations_per_event(ocel) == expected_relations(kept)
    case_c = str(journeys.cases["c"].case_id)
    assert set(log[log["case:concept:name"] == case_c]["case:person_ref"]) == {str(journeys.first_person_of_c)}
    assert ocel.objects["ocel:type"].value_counts()["young person"] == 3
    assert log.groupby("case:concept:name").size().to_dict()[str(journeys.cases["b"].case_id)] == 4

    ocel, log = await export_both(pool, schema, tmp_path / "before", as_of=date(2026, 1, 31))
    assert len(ocel.events) == len(log) == 4  # case a's referral, assessment, panel and placement
    assert log["case:concept:name"].nunique() == 1


async def test_the_district_and_referral_period_choose_the_cases(journeys, pool, schema, tmp_path):
    ocel, log = await export_both(pool, schema, tmp_path / "preston", district="preston")
    assert len(ocel.events) == len(log) == 13
    assert set(log["case:concept:name"]) == {str(journeys.cases[name].case_id) for name in ("a", "b")}
    assert set(log["case:district"]) == {"preston"}
    assert ocel.objects["ocel:type"].value_counts().to_dict() == {
        "young person": 2, "case": 2, "placement": 2, "scheme": 3, "provider": 3, "floating support episode": 1}

    ocel, log = await export_both(pool, schema, tmp_path / "burnley", district="burnley")
    assert len(ocel.events) == len(log) == 3
    assert set(log["case:concept:name"]) == {str(journeys.cases["c"].case_id)}

    ocel, log = await export_both(pool, schema, tmp_path / "february", first_day=date(2026, 2, 1),
                                  last_day=date(2026, 2, 28))
    assert set(log["case:concept:name"]) == {str(journeys.cases["b"].case_id)}
    assert len(ocel.events) == 5


def every_value(node) -> list:
    if isinstance(node, dict):
        return [value for item in node.values() for value in every_value(item)] + list(node)
    if isinstance(node, list):
        return [value for item in node for value in every_value(item)]
    return [node]


async def test_no_personal_detail_given_at_referral_is_in_either_export(postgres, pool, schema, tmp_path):
    person = a_young_person(given_name="Philippa", family_name="Featherstonehaugh", phone="07700 900123",
                            email="philippa@example.org", address="7 Quayside Row, Preston")
    store = referrals(postgres.url, f"{schema}_referral")
    try:
        store.make_referral(a_context(), **a_referral_request(young_person=person))
        events = [parse_event(n.state) for n in store.recorder.select_notifications(1, 100)]
    finally:
        store.close()
    assert [event.event_type for event in events] == ["ReferralMade"]
    await apply(pool, schema, events)

    async with pool.acquire() as conn:
        document = await exports.ocel(conn, schema=schema)
        log = await exports.xes(conn, schema=schema)
    assert len(document["events"]) == 1 and log.count("<event>") == 1
    details = {person.given_name, person.family_name, person.date_of_birth.isoformat(), person.phone, person.email,
               person.address}
    assert not details & {str(value) for value in every_value(document)}
    for text in (json.dumps(document), log):
        assert not [detail for detail in details if detail.lower() in text.lower()]
