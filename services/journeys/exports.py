"""Process-mining exports of the journeys read models: OCEL 2.0 JSON and XES, read from `case_journeys` and
`journey_steps` (pseudonymous: ids and coded facts, never a name or free text).

`read_journeys` reads the rows (filtered by the case's district, its referral period and `as_of`: steps recorded
after that day are left out); `ocel_of` and `xes_of` turn them into the two formats, with the standard library
alone. `ocel` and `xes` do both.

OCEL 2.0: objects are young people (`person:<person_ref>`), cases (`case:<case_id>`), placements, schemes,
providers and floating support episodes (`placement:`, `scheme:`, `provider:`, `episode:` and the id); each event
is related to its case and young person and to every object its facts name, the qualifier saying how (`RELATED`).
Its attributes are its facts that are not ids. XES: one trace per case (`concept:name` the case id, `person_ref`,
`district`, `gateway`), an event per step (`concept:name` its type, `time:timestamp` when it happened,
`identity:id` its event id) with the same attributes.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import asyncpg

PERSON, CASE = "young person", "case"
PLACEMENT, SCHEME, PROVIDER, EPISODE = "placement", "scheme", "provider", "floating support episode"
OBJECT_TYPES = {PERSON: "person", CASE: "case", PLACEMENT: "placement", SCHEME: "scheme", PROVIDER: "provider",
                EPISODE: "episode"}
"""Each object type and the prefix of its objects' ids (`case:<case_id>`): ids unique across types."""

RELATED: dict[str, tuple[str, str]] = {
    "placement_id": (PLACEMENT, "placement"),
    "in_placement_id": (PLACEMENT, "alongside placement"),
    "scheme_id": (SCHEME, "scheme"),
    "from_scheme_id": (SCHEME, "from scheme"),
    "provider_id": (PROVIDER, "provider"),
    "episode_id": (EPISODE, "floating support episode"),
    "previous_person_ref": (PERSON, "previous person"),
    "unlinked_from": (PERSON, "unlinked from"),
}
"""The facts naming an object: fact -> (object type, qualifier of the event's relation to it). A PlacementMoved's
`scheme_id` is the scheme moved to (qualifier "to scheme"). A possible match's `candidate_person_ref` is related
to nothing: the match is uncertain, and the candidate may be known only in another district."""

NOT_ATTRIBUTES = {"unlinked_from"}
"""Facts that are ids without an `_id`/`_ref` suffix. No id is an attribute: ids are objects or left out (a
restricted flag's `flag_id`)."""

CASE_STATUS_FACTS = {"ReferralMade": "open", "CaseReopened": "open", "CaseClosed": "closed"}
COHORT_FACTS = {"ReferralMade", "CaseReopened", "LegalStatusChanged", "AgeReached"}
LINKS = ("PersonLinked", "PersonUnlinked")
"""A link changes a case's young person; undone in reverse for an `as_of` before it (see `person_as_of`)."""

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass
class Step:
    event_id: str
    event_type: str
    occurred_at: datetime
    recorded_at: datetime
    facts: dict[str, Any]


@dataclass
class Journey:
    case_id: str
    person_ref: str
    district: str
    gateway: str | None
    referred_at: datetime | None
    steps: list[Step] = field(default_factory=list)


def is_id(fact: str) -> bool:
    return fact.endswith(("_id", "_ref")) or fact in NOT_ATTRIBUTES


def cutoff_of(as_of: date | None) -> datetime | None:
    """The first moment after the day `as_of` (UTC): steps recorded from then on are left out."""
    return None if as_of is None else datetime.combine(as_of + timedelta(days=1), time(0), UTC)


async def read_journeys(conn: asyncpg.Connection, *, district: str | None = None, first_day: date | None = None,
                        last_day: date | None = None, as_of: date | None = None,
                        schema: str = "journeys") -> list[Journey]:
    """The journeys of the cases in `district` referred from `first_day` to `last_day` (UTC days, both optional),
    each with its steps in the order they happened, as they were known at the end of `as_of` (every step if
    none): a case none of whose steps was recorded by then is left out, and a case's young person is the one it
    had then."""
    if not IDENTIFIER.match(schema):
        raise ValueError(f"not a schema name: {schema!r}")
    cutoff = cutoff_of(as_of)
    chosen = ("($1::text IS NULL OR c.district = $1)"
              " AND ($2::date IS NULL OR (c.referred_at AT TIME ZONE 'UTC')::date >= $2)"
              " AND ($3::date IS NULL OR (c.referred_at AT TIME ZONE 'UTC')::date <= $3)")
    cases = await conn.fetch(
        f"SELECT c.case_id, c.person_ref, c.district, c.gateway, c.referred_at FROM {schema}.case_journeys c"
        f" WHERE {chosen} ORDER BY c.referred_at, c.case_id", district, first_day, last_day)
    steps = await conn.fetch(
        f"SELECT s.case_id, s.event_id, s.event_type, s.occurred_at, s.recorded_at, s.facts"
        f" FROM {schema}.journey_steps s JOIN {schema}.case_journeys c USING (case_id)"
        f" WHERE {chosen} AND ($4::timestamptz IS NULL OR s.recorded_at < $4)"
        f" ORDER BY s.case_id, s.occurred_at, s.recorded_at, s.stream_sequence",
        district, first_day, last_day, cutoff)
    later_links = [] if cutoff is None else await conn.fetch(
        f"SELECT s.case_id, s.event_type, s.facts FROM {schema}.journey_steps s"
        f" JOIN {schema}.case_journeys c USING (case_id)"
        f" WHERE {chosen} AND s.recorded_at >= $4 AND s.event_type = ANY($5::text[])"
        f" ORDER BY s.stream, s.stream_sequence", district, first_day, last_day, cutoff, list(LINKS))
    journeys = {str(row["case_id"]): Journey(str(row["case_id"]), str(row["person_ref"]), row["district"],
                                             row["gateway"], row["referred_at"]) for row in cases}
    for row in steps:
        journey = journeys.get(str(row["case_id"]))
        if journey is not None:
            journey.steps.append(Step(str(row["event_id"]), row["event_type"], row["occurred_at"],
                                      row["recorded_at"], json.loads(row["facts"])))
    person_as_of(journeys, later_links)
    return [journey for journey in journeys.values() if journey.steps]


def person_as_of(journeys: dict[str, Journey], later_links: Iterable) -> None:
    """Give each case the young person it had before the first link or unlink recorded after `as_of`: the
    person it was linked from (PersonLinked's `previous_person_ref`, PersonUnlinked's `unlinked_from`)."""
    undone = set()
    for row in later_links:
        case_id = str(row["case_id"])
        if case_id in journeys and case_id not in undone:
            facts = json.loads(row["facts"])
            journeys[case_id].person_ref = facts["previous_person_ref" if row["event_type"] == "PersonLinked"
                                                 else "unlinked_from"]
            undone.add(case_id)


# -- values -------------------------------------------------------------------------------------


def moment(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds")


def attribute_value(value: Any) -> Any:
    """A fact as an attribute value: booleans and numbers as they are, a list as its items joined by commas,
    anything else as its JSON text; None for no value (left out)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return json.dumps(value, sort_keys=True)


def ocel_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return "float" if isinstance(value, float) else "string"


def attributes_of(step: Step) -> dict[str, Any]:
    """The step's facts that are not ids, as attribute values."""
    return {name: attribute_value(value) for name, value in step.facts.items()
            if not is_id(name) and value is not None}


def related_of(journey: Journey, step: Step) -> list[tuple[str, str, str]]:
    """(object type, id, qualifier) of every object the step is about: its case, its young person, then each
    object its facts name (once each)."""
    related = [(CASE, journey.case_id, "case"), (PERSON, journey.person_ref, "young person")]
    for fact, (object_type, qualifier) in RELATED.items():
        value = step.facts.get(fact)
        if value is None:
            continue
        if fact == "scheme_id" and step.event_type == "PlacementMoved":
            qualifier = "to scheme"
        related.append((object_type, str(value), qualifier))
    seen, once = set(), []
    for object_type, object_id, qualifier in related:
        if (object_type, object_id) not in seen:
            seen.add((object_type, object_id))
            once.append((object_type, object_id, qualifier))
    return once


def object_id(object_type: str, raw_id: str) -> str:
    return f"{OBJECT_TYPES[object_type]}:{raw_id}"


# -- OCEL 2.0 -----------------------------------------------------------------------------------


def ocel_of(journeys: list[Journey]) -> dict:
    """The journeys as an OCEL 2.0 JSON document (objectTypes, eventTypes, objects, events)."""
    event_types: dict[str, dict[str, str]] = {}
    objects: dict[str, dict] = {}
    events = []

    def an_object(object_type: str, raw_id: str) -> dict:
        oid = object_id(object_type, raw_id)
        if oid not in objects:
            objects[oid] = {"id": oid, "type": object_type, "attributes": [], "relationships": []}
        return objects[oid]

    def changed(obj: dict, name: str, value: Any, at: datetime) -> None:
        values = [attribute["value"] for attribute in obj["attributes"] if attribute["name"] == name]
        if value is not None and (not values or values[-1] != value):
            obj["attributes"].append({"name": name, "time": moment(at), "value": value})

    for journey in journeys:
        case = an_object(CASE, journey.case_id)
        case["relationships"].append({"objectId": object_id(PERSON, journey.person_ref), "qualifier": "young person"})
        an_object(PERSON, journey.person_ref)
        first = journey.referred_at or journey.steps[0].occurred_at
        changed(case, "district", journey.district, first)
        changed(case, "gateway", journey.gateway, first)
        for step in sorted(journey.steps, key=lambda step: (step.occurred_at, step.recorded_at)):
            if step.event_type in CASE_STATUS_FACTS:
                changed(case, "status", CASE_STATUS_FACTS[step.event_type], step.occurred_at)
            if step.event_type in COHORT_FACTS:
                changed(case, "cohort", step.facts.get("cohort"), step.occurred_at)
            attributes = attributes_of(step)
            declared = event_types.setdefault(step.event_type, {})
            for name, value in attributes.items():
                declared[name] = widest(declared.get(name), ocel_type(value))
            relationships = []
            for object_type, raw_id, qualifier in related_of(journey, step):
                obj = an_object(object_type, raw_id)
                relationships.append({"objectId": obj["id"], "qualifier": qualifier})
                if object_type in (PLACEMENT, EPISODE) and not obj["relationships"]:
                    obj["relationships"].append({"objectId": case["id"], "qualifier": "case"})
            events.append({"id": step.event_id, "type": step.event_type, "time": moment(step.occurred_at),
                           "attributes": [{"name": name, "value": value} for name, value in attributes.items()],
                           "relationships": relationships})
    case_attributes = [{"name": "district", "type": "string"}, {"name": "gateway", "type": "string"},
                       {"name": "status", "type": "string"}, {"name": "cohort", "type": "string"}]
    return {
        "objectTypes": [{"name": name, "attributes": case_attributes if name == CASE else []}
                        for name in OBJECT_TYPES],
        "eventTypes": [{"name": name, "attributes": [{"name": attribute, "type": kind}
                                                     for attribute, kind in sorted(declared.items())]}
                       for name, declared in sorted(event_types.items())],
        "objects": list(objects.values()),
        "events": events,
    }


def widest(known: str | None, seen: str) -> str:
    """The type of an attribute seen with values of two types: an integer and a float make a float, anything
    else mixed a string."""
    if known is None or known == seen:
        return seen
    return "float" if {known, seen} == {"integer", "float"} else "string"


async def ocel(conn: asyncpg.Connection, *, district: str | None = None, first_day: date | None = None,
               last_day: date | None = None, as_of: date | None = None, schema: str = "journeys") -> dict:
    """The journeys chosen (see `read_journeys`) as an OCEL 2.0 JSON document."""
    return ocel_of(await read_journeys(conn, district=district, first_day=first_day, last_day=last_day,
                                       as_of=as_of, schema=schema))


# -- XES ----------------------------------------------------------------------------------------

XES_NAMESPACE = "http://www.xes-standard.org/"
XES_EXTENSIONS = [("Concept", "concept", "http://www.xes-standard.org/concept.xesext"),
                  ("Time", "time", "http://www.xes-standard.org/time.xesext"),
                  ("Identity", "identity", "http://www.xes-standard.org/identity.xesext")]


def xes_attribute(parent: ET.Element, key: str, value: Any) -> None:
    if isinstance(value, bool):
        ET.SubElement(parent, "boolean", {"key": key, "value": "true" if value else "false"})
    elif isinstance(value, int):
        ET.SubElement(parent, "int", {"key": key, "value": str(value)})
    elif isinstance(value, float):
        ET.SubElement(parent, "float", {"key": key, "value": repr(value)})
    elif isinstance(value, datetime):
        ET.SubElement(parent, "date", {"key": key, "value": moment(value)})
    else:
        ET.SubElement(parent, "string", {"key": key, "value": str(value)})


def xes_of(journeys: list[Journey]) -> str:
    """The journeys as an XES log: a trace per case, an event per step in the order they happened."""
    log = ET.Element("log", {"xes.version": "1.0", "xmlns": XES_NAMESPACE})
    for name, prefix, uri in XES_EXTENSIONS:
        ET.SubElement(log, "extension", {"name": name, "prefix": prefix, "uri": uri})
    for scope, keys in (("trace", [("string", "concept:name", "__INVALID__")]),
                        ("event", [("string", "concept:name", "__INVALID__"),
                                   ("date", "time:timestamp", "1970-01-01T00:00:00.000+00:00")])):
        declared = ET.SubElement(log, "global", {"scope": scope})
        for tag, key, value in keys:
            ET.SubElement(declared, tag, {"key": key, "value": value})
    ET.SubElement(log, "classifier", {"name": "Activity", "keys": "concept:name"})
    xes_attribute(log, "concept:name", "casetrack journeys")
    for journey in journeys:
        trace = ET.SubElement(log, "trace")
        xes_attribute(trace, "concept:name", journey.case_id)
        xes_attribute(trace, "person_ref", journey.person_ref)
        xes_attribute(trace, "district", journey.district)
        if journey.gateway is not None:
            xes_attribute(trace, "gateway", journey.gateway)
        for step in sorted(journey.steps, key=lambda step: (step.occurred_at, step.recorded_at)):
            event = ET.SubElement(trace, "event")
            xes_attribute(event, "concept:name", step.event_type)
            xes_attribute(event, "time:timestamp", step.occurred_at)
            ET.SubElement(event, "id", {"key": "identity:id", "value": step.event_id})
            for name, value in attributes_of(step).items():
                xes_attribute(event, name, value)
    ET.indent(log)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(log, encoding="unicode") + "\n"


async def xes(conn: asyncpg.Connection, *, district: str | None = None, first_day: date | None = None,
              last_day: date | None = None, as_of: date | None = None, schema: str = "journeys") -> str:
    """The journeys chosen (see `read_journeys`) as an XES document."""
    return xes_of(await read_journeys(conn, district=district, first_day=first_day, last_day=last_day,
                                      as_of=as_of, schema=schema))
