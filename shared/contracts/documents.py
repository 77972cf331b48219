"""The contracts as documents for other teams: a JSON Schema per event type and per district message, an
AsyncAPI document, and the generated parts of the district integration guide.

`casetrack docs` writes them under docs/; a test checks the checked-in copies match the models.
The AsyncAPI document is built here from the same pydantic models the district inbox validates with (FastStream's
generator knows neither channel parameters, nor headers, nor examples).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from shared.contracts import EVENT_TYPES
from shared.contracts.inbound import MESSAGE_KINDS, MessageAccepted, MessageRejected
from shared.districts import shipped_district_register
from shared.streams import DUPLICATE_WINDOW_SECONDS
from shared.subjects import POSITION_HEADER, accepted_subject, ingest_subject, rejected_subject

VERSION = "0.2.0"
GUIDE = "district-integration.md"
EXAMPLE_DISTRICT = "preston"

SCHEMAS = "#/components/schemas/"
DISTRICT_PARAMETER = {"district": {"$ref": "#/components/parameters/district"}}

# -- examples: made-up data, one young person's case from referral to re-referral ----------------------------------

_CASE = "EXAMPLE-0001"
INBOUND_EXAMPLES: dict[str, dict[str, Any]] = {
    "referral": {
        "district_ref": _CASE, "message_id": f"{_CASE}-referral", "occurred_at": "2026-03-02T09:30:00Z",
        "gateway": "district_housing_options", "cohort": "homeless_16_17",
        "young_person": {"given_name": "Casey", "family_name": "Example", "date_of_birth": "2009-01-15",
                         "phone": "01632 960000", "email": "casey@example.org"},
        "presenting_reason": "parental_eviction", "flags": ["neet"],
    },
    "eligibility": {"district_ref": _CASE, "message_id": f"{_CASE}-eligibility",
                    "occurred_at": "2026-03-03T11:00:00Z", "eligible": True},
    "duty-start": {"district_ref": _CASE, "message_id": f"{_CASE}-prevention", "occurred_at": "2026-03-03T11:30:00Z",
                   "duty": "prevention"},
    "mediation-attempt": {"district_ref": _CASE, "message_id": f"{_CASE}-mediation-1",
                          "occurred_at": "2026-03-04T14:00:00Z"},
    "mediation-outcome": {"district_ref": _CASE, "message_id": f"{_CASE}-mediation-1-outcome",
                          "occurred_at": "2026-03-11T16:00:00Z", "outcome": "returned_home"},
    "duty-end": {"district_ref": _CASE, "message_id": f"{_CASE}-prevention-end", "occurred_at": "2026-03-11T16:30:00Z",
                 "duty": "prevention", "reason": "accommodation_secured"},
    "assessment": {"district_ref": _CASE, "message_id": f"{_CASE}-assessment", "occurred_at": "2026-03-13T10:00:00Z",
                   "support_needs": ["independent_living_skills", "managing_money"], "support_level": "medium",
                   "risk": "low", "priority_band": "A"},
    "panel-decision": {"district_ref": _CASE, "message_id": f"{_CASE}-panel", "occurred_at": "2026-03-19T15:00:00Z",
                       "decision": "return_home_with_support", "panel_date": "2026-03-19",
                       "emergency_placement_reported": False},
    "return-home-follow-up": {"district_ref": _CASE, "message_id": f"{_CASE}-mediation-1-3-months",
                              "occurred_at": "2026-06-12T10:00:00Z", "attempt": 1, "months_after": 3,
                              "still_at_home": True},
    "legal-status": {"district_ref": _CASE, "message_id": f"{_CASE}-section-20", "occurred_at": "2026-03-20T10:00:00Z",
                     "legal_status": "looked_after_section_20", "reason": "southwark_assessment"},
    "flag-raised": {"district_ref": _CASE, "message_id": f"{_CASE}-teenage-parent",
                    "occurred_at": "2026-04-01T10:00:00Z", "flag": "teenage_parent", "dependants": 1},
    "flag-ended": {"district_ref": _CASE, "message_id": f"{_CASE}-neet-ended", "occurred_at": "2026-05-01T10:00:00Z",
                   "flag": "neet"},
    "closure": {"district_ref": _CASE, "message_id": f"{_CASE}-closure", "occurred_at": "2026-09-30T12:00:00Z",
                "reason": "returned_home"},
    "reopening": {"district_ref": _CASE, "message_id": f"{_CASE}-reopening", "occurred_at": "2026-11-02T09:00:00Z",
                  "presenting_reason": "relationship_breakdown", "cohort": "homeless_16_17"},
}
"""One message per kind, in an order the referral rules accept, for one made-up young person (01632 960xxx is
Ofcom's range for drama, example.org is reserved). The reopening leaves out `young_person`: the vault's are used."""

_ACCEPTED_EXAMPLE: dict[str, Any] = {
    "district": EXAMPLE_DISTRICT, "kind": "referral", "district_ref": _CASE, "message_id": f"{_CASE}-referral",
    "case_id": "00000000-0000-4000-8000-00000000ca5e", "position": "referral:118", "duplicate": False,
    "person_linked": False, "possible_match": True,
}
_MISTAKEN_REFERRAL = {**INBOUND_EXAMPLES["referral"], "cohort": "teenager",
                      "young_person": {**INBOUND_EXAMPLES["referral"]["young_person"], "family_name": ""}}


def accepted_example() -> dict[str, Any]:
    """The answer to the example referral: the fields the answer model has (no more, so it stays valid)."""
    return {name: value for name, value in _ACCEPTED_EXAMPLE.items() if name in MessageAccepted.model_fields}


def rejected_example() -> dict[str, Any]:
    """The answer to the example referral sent with two mistakes: its reasons are the model's own."""
    return {
        "rejection_id": "00000000-0000-4000-8000-0000000000e1", "district": EXAMPLE_DISTRICT, "kind": "referral",
        "district_ref": _CASE, "message_id": f"{_CASE}-referral", "stream_sequence": 311,
        "received_at": "2026-03-02T09:30:01Z",
        "reasons": validation_reasons(MESSAGE_KINDS["referral"], _MISTAKEN_REFERRAL),
    }


def validation_reasons(model: type[BaseModel], data: Any) -> list[dict[str, Any]]:
    """The reasons the district inbox gives for a message that fails its model (as services/referral does)."""
    try:
        model.model_validate_json(json.dumps(data))
    except ValidationError as error:
        return [{"field": ".".join(str(part) for part in e["loc"]) or None, "problem": e["msg"], "type": e["type"]}
                for e in error.errors(include_input=False, include_url=False)]
    return []


# -- JSON Schemas, one file each ------------------------------------------------------------------------------------

def event_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema, one per event type and schema version."""
    return {
        f"{name}.v{model.model_fields['schema_version'].default}.schema.json": model.model_json_schema()
        for name, model in sorted(EVENT_TYPES.items())
    }


def inbound_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema of each message a district system may send, and of casetrack's answers."""
    schemas = {f"{kind}.schema.json": model.model_json_schema() for kind, model in sorted(MESSAGE_KINDS.items())}
    schemas["answers/accepted.schema.json"] = MessageAccepted.model_json_schema()
    schemas["answers/rejected.schema.json"] = MessageRejected.model_json_schema()
    return schemas


# -- the AsyncAPI document ------------------------------------------------------------------------------------------

INBOUND_HEADERS = {
    "type": "object",
    "description": "No header is required, and casetrack uses none. Never put personal data in a header.",
    "properties": {"Nats-Msg-Id": {
        "type": "string",
        "description": f"Optional, read by JetStream only: a publish repeating an id seen in the last "
                       f"{DUPLICATE_WINDOW_SECONDS:.0f} seconds is dropped. Never set it to your message_id (a "
                       "corrected resend would be dropped); casetrack deduplicates by message_id itself."}},
}
ANSWER_HEADERS = {
    "type": "object",
    "required": ["Nats-Msg-Id"],
    "properties": {"Nats-Msg-Id": {
        "type": "string", "pattern": "^answer-to-ingest-[0-9]+$",
        "description": "answer-to-ingest-<stream_sequence>: one answer per message on CASETRACK_INGEST"}},
}
EVENT_HEADERS = {
    "type": "object",
    "required": ["Nats-Msg-Id", POSITION_HEADER],
    "properties": {
        "Nats-Msg-Id": {"type": "string", "format": "uuid", "description": "The event's event_id"},
        POSITION_HEADER: {"type": "string", "pattern": "^[0-9]+$",
                          "description": "The event's position in the publishing service's store"},
        "traceparent": {"type": "string", "description": "W3C trace context, when the change was traced"},
    },
}


def asyncapi_document() -> dict[str, Any]:
    """AsyncAPI 3.0 from casetrack's point of view: it receives district messages, sends answers and events."""
    models: list[type[BaseModel]] = [*MESSAGE_KINDS.values(), MessageAccepted, MessageRejected, *EVENT_TYPES.values()]
    _, definitions = models_json_schema([(model, "validation") for model in models],
                                        ref_template=SCHEMAS + "{model}")
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}

    def channel(key: str, address: str, action: str, message: dict[str, Any], description: str) -> None:
        messages[key] = message
        channels[key] = {"address": address, "title": key, "description": description,
                         "parameters": DISTRICT_PARAMETER,
                         "messages": {message["name"]: {"$ref": f"#/components/messages/{key}"}}}
        operations[key] = {"action": action, "channel": {"$ref": f"#/channels/{key}"},
                           "messages": [{"$ref": f"#/channels/{key}/messages/{message['name']}"}]}

    for kind, model in sorted(MESSAGE_KINDS.items()):
        subject = ingest_subject(EXAMPLE_DISTRICT, kind)
        channel(f"ingest.{kind}", ingest_subject("{district}", kind), "receive", {
            "name": model.__name__, "title": f"district message: {kind}", "summary": _first_line(model),
            "contentType": "application/json", "headers": INBOUND_HEADERS,
            "payload": {"$ref": SCHEMAS + model.__name__},
            "correlationId": {"location": "$message.payload#/message_id"},
            "examples": [{"name": f"{kind}-example", "summary": f"published on {subject}",
                          "payload": INBOUND_EXAMPLES[kind]}],
        }, f"{_first_line(model)} Published by a district housing system; stored on CASETRACK_INGEST and "
           "answered on casetrack.accepted.{district} or casetrack.rejected.{district}.")
    for answer, model, subject, example, sequence in (
            ("accepted", MessageAccepted, accepted_subject, accepted_example(), 312),
            ("rejected", MessageRejected, rejected_subject, rejected_example(), 311)):
        channel(f"answers.{answer}", subject("{district}"), "send", {
            "name": model.__name__, "title": f"answer: {answer}", "summary": _first_line(model),
            "contentType": "application/json", "headers": ANSWER_HEADERS,
            "payload": {"$ref": SCHEMAS + model.__name__},
            "correlationId": {"location": "$message.payload#/message_id"},
            "examples": [{"name": f"{answer}-example", "summary": f"published on {subject(EXAMPLE_DISTRICT)}",
                          "headers": {"Nats-Msg-Id": f"answer-to-ingest-{sequence}"}, "payload": example}],
        }, f"{_first_line(model)} Stored on CASETRACK_{answer.upper()}: read it with a durable consumer.")
    for name, model in sorted(EVENT_TYPES.items()):
        channel(f"{model.service}.{name}", f"casetrack.{model.service}.{{district}}.{name}", "send", {
            "name": name, "title": name, "summary": _first_line(model),
            "contentType": "application/json", "headers": EVENT_HEADERS,
            "payload": {"$ref": SCHEMAS + name},
            "correlationId": {"location": "$message.payload#/correlation_id"},
        }, f"{_first_line(model)} Stored on CASETRACK_{model.service.upper()}.")
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "casetrack", "version": VERSION, "description": (
            "What district housing systems send casetrack over NATS JetStream, what casetrack answers, and the "
            "events casetrack publishes. Subjects carry the district; no subject, header or event carries "
            "personal data. See docs/district-integration.md.")},
        "defaultContentType": "application/json",
        "servers": {"development": {"host": "localhost:4222", "protocol": "nats",
                                    "description": "casetrack up's embedded nats-server (JetStream)"}},
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": definitions["$defs"],
            "messages": messages,
            "parameters": {"district": {
                "description": "The district housing authority's code: every code the shipped district register has "
                               "ever had (a new referral names one in force on its day); a deployment's register "
                               "may add others",
                "enum": sorted(shipped_district_register().districts), "examples": [EXAMPLE_DISTRICT]}},
        },
    }


def _first_line(model: type) -> str:
    return (model.__doc__ or model.__name__).strip().splitlines()[0]


# -- the district integration guide's generated sections -------------------------------------------------------------

def guide_sections() -> dict[str, str]:
    """Name -> markdown of each part of the guide written by `casetrack docs` (between its markers)."""
    return {"districts": _districts_table(), "examples": _examples()}


def _districts_table() -> str:
    """The shipped district register (a deployment's own: `casetrack districts`), every code it has ever had."""
    register = shipped_district_register()

    def row(code: str) -> str:
        district = register.districts[code]
        council = register.counties[district.county].name if district.county else "unitary"
        areas = ", ".join(register.areas[area] for area in district.areas)
        until = district.in_force_until.isoformat() if district.in_force_until else ""
        after = ", ".join(f"`{s}`" for s in district.successors) + (f" ({district.change})" if district.change else "")
        return (f"| `{code}` | {district.name} | {council} | {areas} | {district.in_force_from.isoformat()} | {until} "
                f"| {after.strip()} |")

    rows = "\n".join(row(code) for code in sorted(register.districts))
    return ("A message or event names a district by its code. A new referral must name a district in force on its "
            "day (otherwise `DistrictNotInForce`, naming the district in force then); a code that has ended stays "
            "valid for what was recorded under it. This is the register casetrack ships; a deployment may use its "
            "own (`casetrack districts` prints the one in force).\n\n"
            "| code | district | council | commissioning areas | from | until | successors |\n"
            f"|---|---|---|---|---|---|---|\n{rows}")


def _examples() -> str:
    def block(data: dict[str, Any]) -> str:
        return f"```json\n{json.dumps(data, indent=2)}\n```"

    parts = [f"**`{kind}`** on `{ingest_subject(EXAMPLE_DISTRICT, kind)}` "
             f"([schema](ingest/{kind}.schema.json)):\n{block(INBOUND_EXAMPLES[kind])}" for kind in MESSAGE_KINDS]
    parts.append(f"**Accepted** on `{accepted_subject(EXAMPLE_DISTRICT)}` "
                 f"([schema](ingest/answers/accepted.schema.json)), the answer to the referral:\n"
                 f"{block(accepted_example())}")
    parts.append(f"**Rejected** on `{rejected_subject(EXAMPLE_DISTRICT)}` "
                 f"([schema](ingest/answers/rejected.schema.json)), the answer to the same referral sent with "
                 f"`\"cohort\": \"teenager\"` and an empty `family_name`:\n{block(rejected_example())}")
    return "\n\n".join(parts)


def _markers(name: str) -> tuple[str, str]:
    return (f"<!-- generated by `casetrack docs`: {name} (do not edit by hand) -->",
            f"<!-- end of generated {name} -->")


class GuideMarkersMissing(ValueError):
    """The guide lacks the markers a generated section is written between."""


def refreshed_guide(text: str) -> str:
    """The guide with each generated section rewritten between its markers; the rest is left as written."""
    for name, section in guide_sections().items():
        begin, end = _markers(name)
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
        if not pattern.search(text):
            raise GuideMarkersMissing(f"the guide has no {begin!r} ... {end!r}")
        replacement = f"{begin}\n{section}\n{end}"
        text = pattern.sub(lambda _, replacement=replacement: replacement, text, count=1)
    return text


# -- all of them ------------------------------------------------------------------------------------------------------

def documents() -> dict[str, str]:
    """Relative path -> text of every document generated from the models alone."""
    files = {f"events/{file}": _dump(schema) for file, schema in event_schemas().items()}
    files |= {f"ingest/{file}": _dump(schema) for file, schema in inbound_schemas().items()}
    files["asyncapi.json"] = _dump(asyncapi_document())
    return files


def write_documents(docs: Path) -> list[Path]:
    """Write every document under `docs`, and refresh the generated sections of the guide if it is there."""
    written = []
    for relative, text in documents().items():
        path = docs / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    guide = docs / GUIDE
    if guide.exists():
        guide.write_text(refreshed_guide(guide.read_text()))
        written.append(guide)
    return written


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
