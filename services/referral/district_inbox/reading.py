"""Reading a district message: subject, headers and bytes become one message model, or every reason they cannot.

Nothing a district sends can make reading fail: bytes that are not JSON, not UTF-8, nested too deep (the
parser stops at 200 levels, where the standard library's recursion would raise) or larger than
`MAX_MESSAGE_BYTES`, and headers that do not parse, are each a reason. Reasons never echo the values sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import from_json

from shared.contracts.inbound import MESSAGE_KINDS, DistrictMessage, Reason, YoungPerson
from shared.contracts.vocabulary import DISTRICTS

MAX_MESSAGE_BYTES = 64 * 1024
"""The largest message read; a referral is well under 2 KB."""


class MessageRefused(Exception):
    """The district message cannot be applied; `reasons` says every way it is wrong."""

    def __init__(self, reasons: list[Reason]):
        super().__init__("; ".join(f"{r.field or 'message'}: {r.problem}" for r in reasons))
        self.reasons = reasons


def district_and_kind(subject: str) -> tuple[str, str | None]:
    """The district and kind a subject names (`unknown` and None where it names none)."""
    tokens = subject.split(".")
    return (tokens[2] if len(tokens) > 2 else "unknown"), (tokens[3] if len(tokens) == 4 else None)


def read(subject: str, body: bytes, headers: Mapping[str, Any] | None = None) -> DistrictMessage:
    """The message `body` holds, as the model its subject's kind names; MessageRefused with every reason if not."""
    tokens = subject.split(".")
    if len(tokens) != 4:
        raise MessageRefused([Reason(field=None, problem="publish on casetrack.ingest.<district>.<kind>",
                                     type="BadSubject")])
    _, _, district, kind = tokens
    reasons = []
    if district not in DISTRICTS:
        reasons.append(Reason(field=None, problem=f"unknown district {district!r}", type="UnknownDistrict"))
    model = MESSAGE_KINDS.get(kind)
    if model is None:
        reasons.append(Reason(field=None, problem=f"unknown kind {kind!r}; kinds: {', '.join(MESSAGE_KINDS)}",
                              type="UnknownKind"))
    if not readable_headers(headers):
        reasons.append(Reason(field=None, problem="the message's headers do not parse as NATS headers "
                                                  "(printable names and values)", type="BadHeaders"))
    if len(body) > MAX_MESSAGE_BYTES:
        raise MessageRefused([*reasons, Reason(
            field=None, problem=f"{len(body)} bytes: the limit is {MAX_MESSAGE_BYTES}", type="TooBig")])
    if model is None:
        raise MessageRefused([*reasons, *_json_problems(body)])
    try:
        message = model.model_validate_json(body)
    except ValidationError as error:
        reasons += [_reason(e) for e in error.errors(include_input=False, include_url=False)]
    if reasons:
        raise MessageRefused(reasons)
    return message


IDENTIFIERS = {name: TypeAdapter(Annotated[(str, *DistrictMessage.model_fields[name].metadata)])
               for name in ("district_ref", "message_id")}
"""Each identifier a message carries, with its rules (length, characters) and nothing else."""


def loose_fields(body: bytes) -> dict[str, Any]:
    """From a body that failed validation: its district_ref and message_id where each is a valid identifier (an
    invalid one may be anything, a name typed in the wrong box, so it is dropped), and its `young_person` where
    that is valid (kept only as the vault's match key, so that erasing them reaches the refused message)."""
    if len(body) > MAX_MESSAGE_BYTES:
        return {}
    try:
        data = from_json(body)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    loose: dict[str, Any] = {}
    for name, rules in IDENTIFIERS.items():
        try:
            loose[name] = rules.validate_python(data.get(name), strict=True)
        except ValidationError:
            continue
    try:
        loose["young_person"] = YoungPerson.model_validate(data.get("young_person"))
    except ValidationError:
        pass
    return loose


def readable_headers(headers: Mapping[str, Any] | None) -> bool:
    if headers is None:
        return True
    if not isinstance(headers, Mapping):
        return False
    return all(isinstance(name, str) and isinstance(value, str) and name.isprintable() and value.isprintable()
               and name and ":" not in name and " " not in name for name, value in headers.items())


def _json_problems(body: bytes) -> list[Reason]:
    try:
        from_json(body)
    except ValueError as error:
        return [Reason(field=None, problem=f"not JSON: {error}", type="NotJson")]
    return []


def _reason(error: dict[str, Any]) -> Reason:
    if error["type"] == "json_invalid":  # not UTF-8, not JSON, or nested deeper than the parser goes
        return Reason(field=None, problem=f"not JSON: {error['ctx']['error']}", type="NotJson")
    return Reason(field=".".join(str(part) for part in error["loc"]) or None, problem=error["msg"], type=error["type"])
