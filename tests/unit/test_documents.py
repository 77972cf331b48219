"""The checked-in contract documents under docs/ are the ones the models generate, and a generator can trust them:
every reference resolves, each district message kind has its own schema, and every example is one casetrack accepts."""

import re
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from shared.contracts import EVENT_TYPES
from shared.contracts.documents import (
    GUIDE,
    INBOUND_EXAMPLES,
    GuideMarkersMissing,
    asyncapi_document,
    documents,
    refreshed_guide,
)
from shared.contracts.inbound import MESSAGE_KINDS, MessageAccepted, MessageRejected
from shared.contracts.vocabulary import DISTRICTS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
MODELS = {model.__name__: model for model in (*MESSAGE_KINDS.values(), MessageAccepted, MessageRejected,
                                                *EVENT_TYPES.values())}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return asyncapi_document()


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def refs_in(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [*([node["$ref"]] if isinstance(node.get("$ref"), str) else []),
                *(ref for value in node.values() for ref in refs_in(value))]
    if isinstance(node, list):
        return [ref for value in node for ref in refs_in(value)]
    return []


def mismatches(document: dict[str, Any], schema: dict[str, Any], value: Any, path: str = "") -> list[str]:
    """Where `value` breaks `schema`'s structure (references, required and unknown fields, types, enums, patterns)."""
    if "$ref" in schema:
        return mismatches(document, resolve(document, schema["$ref"]), value, path)
    if "anyOf" in schema:
        options = [mismatches(document, option, value, path) for option in schema["anyOf"]]
        return [] if any(not found for found in options) else [f"{path}: matches no anyOf option"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{path}: {value!r} not in enum"]
    if "const" in schema and value != schema["const"]:
        return [f"{path}: {value!r} is not {schema['const']!r}"]
    kind = schema.get("type")
    python_types = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
                    "integer": int, "number": (int, float)}
    if kind and not isinstance(value, python_types[kind]):
        return [f"{path}: not {kind}"]
    found = []
    if kind == "string" and "pattern" in schema and not re.search(schema["pattern"], value):
        found.append(f"{path}: does not match {schema['pattern']}")
    if kind == "array":
        found += [m for i, item in enumerate(value) for m in mismatches(document, schema.get("items", {}), item,
                                                                         f"{path}[{i}]")]
    if kind == "object":
        found += [f"{path}.{name}: missing" for name in schema.get("required", []) if name not in value]
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            found += [f"{path}.{name}: not in the schema" for name in value if name not in properties]
        found += [m for name, item in value.items() if name in properties
                  for m in mismatches(document, properties[name], item, f"{path}.{name}")]
    return found


def test_the_checked_in_schemas_and_asyncapi_document_match_the_models():
    stale = [name for name, text in documents().items()
             if not (DOCS / name).exists() or (DOCS / name).read_text() != text]
    assert stale == [], f"run `casetrack docs` to refresh: {stale}"


def test_the_generated_sections_of_the_district_guide_are_up_to_date():
    guide = (DOCS / GUIDE).read_text()

    assert refreshed_guide(guide) == guide, "run `casetrack docs` to refresh docs/district-integration.md"


def test_a_guide_without_the_markers_of_a_generated_section_is_refused():
    with pytest.raises(GuideMarkersMissing):
        refreshed_guide("# a guide that lost its markers\n")


def test_every_reference_in_the_asyncapi_document_resolves(document):
    refs = refs_in(document)

    assert len(refs) > 100
    for ref in refs:
        resolve(document, ref)


def test_the_asyncapi_document_names_a_channel_for_every_event_type(document):
    channels = {channel["address"] for channel in document["channels"].values()}
    for name, model in EVENT_TYPES.items():
        assert f"casetrack.{model.service}.{{district}}.{name}" in channels


def test_each_kind_the_inbox_accepts_has_a_channel_whose_message_is_that_kinds_own_schema(document):
    inbound = {key: channel for key, channel in document["channels"].items()
               if channel["address"].startswith("casetrack.ingest.")}

    assert {channel["address"] for channel in inbound.values()} == {
        f"casetrack.ingest.{{district}}.{kind}" for kind in MESSAGE_KINDS}
    for channel in inbound.values():
        kind = channel["address"].rsplit(".", 1)[1]
        [message_ref] = [ref["$ref"] for ref in channel["messages"].values()]
        payload = resolve(document, resolve(document, message_ref)["payload"]["$ref"])
        own = MESSAGE_KINDS[kind].model_json_schema()
        assert payload["title"] == MESSAGE_KINDS[kind].__name__
        assert (set(payload["properties"]), set(payload["required"])) == (set(own["properties"]), set(own["required"]))


def test_every_channel_takes_the_district_as_a_parameter_listing_every_known_district(document):
    for channel in document["channels"].values():
        assert "{district}" in channel["address"]
        assert resolve(document, channel["parameters"]["district"]["$ref"])["enum"] == sorted(DISTRICTS)


def test_each_channel_has_an_operation_in_the_direction_casetrack_sees_it(document):
    actions = {resolve(document, op["channel"]["$ref"])["address"]: op["action"]
               for op in document["operations"].values()}

    assert len(actions) == len(document["channels"])
    assert {address.split(".")[1] for address, action in actions.items() if action == "receive"} == {"ingest"}


def test_every_district_message_and_answer_has_an_example_valid_against_its_schema_and_its_model(document):
    examples = 0
    for key, message in document["components"]["messages"].items():
        if key.startswith(("ingest.", "answers.")):
            assert message["examples"], key
        for example in message.get("examples", []):
            schema_name = message["payload"]["$ref"].rsplit("/", 1)[1]
            assert mismatches(document, message["payload"], example["payload"]) == [], key
            assert mismatches(document, message["headers"], example.get("headers", {})) == [], key
            MODELS[schema_name].model_validate(example["payload"])
            examples += 1

    assert examples == len(MESSAGE_KINDS) + 2


def test_the_structural_check_catches_a_missing_field_an_unknown_field_and_a_wrong_value(document):
    payload = document["components"]["messages"]["ingest.referral"]["payload"]
    broken = {**INBOUND_EXAMPLES["referral"], "cohort": "teenager", "nickname": "x"}
    del broken["gateway"]

    assert sorted(mismatches(document, payload, broken)) == [
        ".cohort: 'teenager' not in enum", ".gateway: missing", ".nickname: not in the schema"]


def test_the_rejected_example_gives_the_reasons_the_model_gives_for_its_two_mistakes(document):
    [example] = document["components"]["messages"]["answers.rejected"]["examples"]

    assert [(r["field"], r["type"]) for r in example["payload"]["reasons"]] == [
        ("cohort", "enum"), ("young_person.family_name", "string_too_short")]


def test_the_example_messages_make_one_case_the_referral_rules_accept_in_order():
    from services.referral.domain import Case

    now = datetime(2026, 12, 1, tzinfo=UTC)  # after every example, before the young person turns 18 (2027-01-15)
    messages = {kind: MESSAGE_KINDS[kind].model_validate(example) for kind, example in INBOUND_EXAMPLES.items()}
    referral = messages.pop("referral")
    case = Case.make_referral(person_ref=uuid4(), district="preston", gateway=referral.gateway,
                              cohort=referral.cohort, date_of_birth=referral.young_person.date_of_birth,
                              presenting_reason=referral.presenting_reason, flags=referral.flags,
                              occurred_at=referral.occurred_at, now=now)
    reopening = messages.pop("reopening")
    changes = {"eligibility": Case.decide_eligibility, "mediation-attempt": Case.attempt_mediation,
               "mediation-outcome": Case.conclude_mediation, "assessment": Case.complete_assessment,
               "panel-decision": Case.decide_at_panel, "closure": Case.close, "duty-start": Case.start_duty,
               "duty-end": Case.end_duty, "return-home-follow-up": Case.follow_up_return_home,
               "legal-status": partial(Case.change_legal_status, date_of_birth=referral.young_person.date_of_birth),
               "flag-raised": Case.raise_flag, "flag-ended": Case.end_flag}
    for kind, message in messages.items():
        changes[kind](case, now=now, **message.model_dump(exclude={"district_ref", "message_id"}))
    case.reopen(presenting_reason=reopening.presenting_reason, cohort=reopening.cohort,
                date_of_birth=referral.young_person.date_of_birth, occurred_at=reopening.occurred_at, now=now)

    assert [event.event_type for event in case.collect_events()][-1] == "CaseReopened"
    assert not case.closed


def test_the_guide_lists_every_district_by_code_and_name():
    guide = (DOCS / GUIDE).read_text()

    for code, name in DISTRICTS.items():
        assert f"| `{code}` | {name} |" in guide


def test_the_guides_rejection_catalogue_names_every_reason_type_the_referral_service_gives():
    guide = (DOCS / GUIDE).read_text()
    catalogue = guide[guide.index("### Rejection reasons"):]
    named = {match for path in (ROOT / "services" / "referral").rglob("*.py")
             for match in re.findall(r"""type=["'](\w+)["']""", path.read_text())}

    assert named, "no reason types found in services/referral"
    assert [t for t in sorted(named) if f"`{t}`" not in catalogue] == []
