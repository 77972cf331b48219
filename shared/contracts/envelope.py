"""The envelope every casetrack event carries: the public, versioned contract between services."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, ClassVar
from uuid import UUID, uuid4

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from shared.contracts.vocabulary import known_district


def utc_now() -> datetime:
    return datetime.now(UTC)


EARLIEST_YEAR, LATEST_YEAR = 1900, 2100
"""Dates casetrack accepts: wide enough for any date of birth or event, narrow enough to compute with."""


def _within_years(value: date | datetime) -> date | datetime:
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"must be between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
    return value


Moment = Annotated[AwareDatetime, AfterValidator(_within_years)]
"""A timezone-aware time between EARLIEST_YEAR and LATEST_YEAR: what requests and messages give."""
Day = Annotated[date, AfterValidator(_within_years)]
"""A calendar day between EARLIEST_YEAR and LATEST_YEAR."""


class Event(BaseModel):
    """An immutable fact recorded by one service and published to the others.

    `aggregate_id`/`aggregate_version` place the event in the history of the aggregate that
    recorded it (a case, a placement); `occurred_at` is when it happened in the world and
    `recorded_at` when casetrack learned of it. No field may carry personal data.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    service: ClassVar[str]
    """The service that owns this event type (the second token of its subject)."""

    event_id: UUID = Field(default_factory=uuid4)
    event_type: str
    schema_version: int = 1
    aggregate_id: UUID
    aggregate_version: int = Field(ge=1)
    case_id: UUID
    person_ref: UUID
    district: str
    occurred_at: AwareDatetime
    recorded_at: AwareDatetime = Field(default_factory=utc_now)
    actor: str = "system"
    correlation_id: UUID = Field(default_factory=uuid4)
    causation_id: UUID | None = None
    traceparent: str | None = None
    """W3C trace context of the request that recorded the event, so its trace continues downstream."""

    @field_validator("district")
    @classmethod
    def _known_district(cls, value: str) -> str:
        return known_district(value)

    @field_validator("occurred_at", "recorded_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("is out of range") from None

    # The eventsourcing library knows an event by these two names.
    @property
    def originator_id(self) -> UUID:
        return self.aggregate_id

    @property
    def originator_version(self) -> int:
        return self.aggregate_version


class EventContext(BaseModel):
    """Who asked for a change and why: stamped on every event the change records."""

    model_config = ConfigDict(frozen=True)

    actor: str = "system"
    correlation_id: UUID = Field(default_factory=uuid4)
    causation_id: UUID | None = None
