"""The checked-in contract documents under docs/ are the ones the models generate."""

from pathlib import Path

from shared.contracts import EVENT_TYPES
from shared.contracts.documents import asyncapi_document, documents

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_checked_in_schemas_and_asyncapi_document_match_the_event_models():
    stale = [name for name, text in documents().items()
             if not (DOCS / name).exists() or (DOCS / name).read_text() != text]
    assert stale == [], f"run `casetrack docs` to refresh: {stale}"


def test_the_asyncapi_document_names_a_channel_for_every_event_type():
    channels = " ".join(channel["address"] for channel in asyncapi_document()["channels"].values())
    for name, model in EVENT_TYPES.items():
        assert f"casetrack.{model.service}.{{district}}.{name}" in channels
