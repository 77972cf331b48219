"""Events recorded by the referral service."""

from typing import Literal

from pydantic import Field

from shared.contracts.envelope import Event
from shared.contracts.vocabulary import Cohort, Flag, Gateway, PresentingReason


class ReferralEvent(Event):
    service = "referral"


class ReferralMade(ReferralEvent):
    """A young person was referred through a gateway: their case starts here."""

    event_type: Literal["ReferralMade"] = "ReferralMade"
    gateway: Gateway
    cohort: Cohort
    age_at_event: int = Field(ge=16, le=25)
    flags: list[Flag] = Field(default_factory=list)
    presenting_reason: PresentingReason
