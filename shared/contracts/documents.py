"""The event contracts as documents for other teams: a JSON Schema per event type and an AsyncAPI file.

`casetrack docs` writes them under docs/; a test checks the checked-in copies match the models.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from faststream.nats import NatsBroker
from faststream.specification import AsyncAPI

from shared.contracts import EVENT_TYPES
from shared.contracts.inbound import MESSAGE_KINDS, MessageAccepted, MessageRejected

VERSION = "0.1.0"


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


def asyncapi_document() -> dict[str, Any]:
    broker = NatsBroker(description="casetrack's NATS JetStream: one stream per service, CASETRACK_<SERVICE>")
    for kind, model in sorted(MESSAGE_KINDS.items()):
        broker.subscriber(
            f"casetrack.ingest.{{district}}.{kind}",
            title=f"ingest/{kind}",
            description=(model.__doc__ or kind).strip() + " Published by a district housing system.",
        )(_inbound_handler(model))
    broker.publisher("casetrack.accepted.{district}", title="answers/accepted",
                     description=(MessageAccepted.__doc__ or "").strip(), schema=MessageAccepted)
    broker.publisher("casetrack.rejected.{district}", title="answers/rejected",
                     description=(MessageRejected.__doc__ or "").strip(), schema=MessageRejected)
    for name, model in sorted(EVENT_TYPES.items()):
        broker.publisher(
            f"casetrack.{model.service}.{{district}}.{name}",
            title=f"{model.service}/{name}",
            description=(model.__doc__ or name).strip(),
            schema=model,
        )
    spec = AsyncAPI(broker, title="casetrack events", version=VERSION,
                    description="Events casetrack publishes. Headers: Nats-Msg-Id (= event_id), "
                                "Casetrack-Position, traceparent. No personal data in any field or subject.")
    return spec.to_specification().to_jsonable()


def _inbound_handler(model):
    async def handle(message: model) -> None:  # type: ignore[valid-type]  # documents the payload only
        """Applied by the referral service's district inbox."""

    return handle


def documents() -> dict[str, str]:
    files = {f"events/{file}": _dump(schema) for file, schema in event_schemas().items()}
    files |= {f"ingest/{file}": _dump(schema) for file, schema in inbound_schemas().items()}
    files["asyncapi.json"] = _dump(asyncapi_document())
    return files


def write_documents(docs: Path) -> list[Path]:
    written = []
    for relative, text in documents().items():
        path = docs / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
