"""What the outcomes routes take and give: request bodies (validated before any rule runs) and responses."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.contracts.envelope import Moment
from shared.contracts.outcomes import Independence, Outcome, OutcomeResult, ServiceType


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _each_once(values: list[Outcome]) -> list[Outcome]:
    if len(set(values)) != len(values):
        raise ValueError("names an outcome more than once")
    return values


class NewSupportPlan(Body):
    """The outcomes of the framework the young person needs support with in this episode."""

    outcomes_needed: list[Outcome] = Field(min_length=1, max_length=len(Outcome))
    occurred_at: Moment | None = Field(default=None, description="When the plan was agreed; default now")

    _once = field_validator("outcomes_needed")(_each_once)


class Review(Body):
    """A review of the plan: outcomes found needed since, each outcome's result so far, independence (KPI1)."""

    outcomes_added: list[Outcome] = Field(default_factory=list, max_length=len(Outcome))
    results: dict[Outcome, OutcomeResult] = Field(default_factory=dict)
    independence: Independence | None = None
    occurred_at: Moment | None = Field(default=None, description="When the review was held; default now")

    _once = field_validator("outcomes_added")(_each_once)


class DepartureOutcomes(Body):
    """The result of every outcome the plan needed, at the point of departure."""

    results: dict[Outcome, OutcomeResult] = Field(min_length=1)
    independence: Independence | None = None


class Written(BaseModel):
    episode_id: UUID
    position: str = Field(description="Pass as ?after= to a read to see this write")


class SupportEpisodeView(BaseModel):
    """A support episode as the placement service's events told it, and its plan as the provider recorded it."""

    episode_id: UUID
    case_id: UUID
    person_ref: UUID
    district: str
    scheme_id: UUID
    provider_id: UUID
    service_type: ServiceType
    started_at: datetime
    ended_at: datetime | None
    departure_event_id: UUID | None
    plan_agreed: bool
    outcomes_needed: list[Outcome]
    results: dict[Outcome, OutcomeResult]
    independence: Independence | None
    departure_outcomes_recorded: bool
