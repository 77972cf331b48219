"""NATS subject and stream names. Subjects carry service, district and event type, never personal data."""

from shared.contracts import Event

PREFIX = "casetrack"


def subject_of(service: str, district: str, event_type: str) -> str:
    """`casetrack.<service>.<district>.<EventType>`: a district can be confined to its own subjects.

    The relay publishes every stored event on this subject."""
    return f"{PREFIX}.{service}.{district}.{event_type}"


def event_subject(event: Event) -> str:
    return subject_of(event.service, event.district, event.event_type)


def service_subjects(service: str) -> str:
    return f"{PREFIX}.{service}.>"


def stream_name(service: str) -> str:
    return f"CASETRACK_{service.upper()}"


def ingest_subject(district: str, kind: str) -> str:
    """Where a district housing system publishes its referrals and updates."""
    return f"{PREFIX}.ingest.{district}.{kind}"


def rejected_subject(district: str) -> str:
    """Where casetrack tells a district which of its messages were refused, and why."""
    return f"{PREFIX}.rejected.{district}"


def accepted_subject(district: str) -> str:
    """Where casetrack tells a district which of its messages were applied, to which case."""
    return f"{PREFIX}.accepted.{district}"


POSITION_HEADER = "Casetrack-Position"
"""Header on every published event: its position in the publishing service's store."""
