"""The outcomes service's rules: pure (no store, web or NATS). See support_episode.py."""

from services.outcomes.domain.support_episode import (
    DepartureAlreadyRecorded,
    EpisodeNotEnded,
    KnownEpisode,
    NoSupportPlan,
    OutcomeDatedInTheFuture,
    OutcomeNeverNeeded,
    OutcomeResultMissing,
    PlanOutsideEpisode,
    ReviewBeforePlan,
    SupportEpisode,
    SupportPlanAlreadyAgreed,
    SupportPlanClosed,
    UnknownSupportEpisode,
    day_of,
)

__all__ = ["DepartureAlreadyRecorded", "EpisodeNotEnded", "KnownEpisode", "NoSupportPlan", "OutcomeDatedInTheFuture",
           "OutcomeNeverNeeded", "OutcomeResultMissing", "PlanOutsideEpisode", "ReviewBeforePlan", "SupportEpisode",
           "SupportPlanAlreadyAgreed", "SupportPlanClosed", "UnknownSupportEpisode", "day_of"]
