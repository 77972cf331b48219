"""Providers record each support episode's plan, its reviews and its outcomes at departure, and read the episodes.

An episode is opened by the placement service's events (a placement starting or moving, floating support
starting): list them with `GET /support-episodes` (take `after=placement:N` for one just started).
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from services.outcomes import handlers
from services.outcomes.projections.support_episodes import known_episode_of

from .deps import CaughtUp, Context, Runtime, Store, SupportReader, SupportWriter, episode_within_reach
from .schemas import DepartureOutcomes, NewSupportPlan, Review, SupportEpisodeView, Written

router = APIRouter(tags=["support plans"])


@router.post("/support-episodes/{episode_id}/support-plan", status_code=201)
def agree_support_plan(episode_id: UUID, body: NewSupportPlan, store: Store, runtime: Runtime, context: Context,
                       _: CaughtUp, caller: SupportWriter) -> Written:
    """Agree the episode's support plan (SupportPlanAgreed): the outcomes needed. 404 for an episode the placement
    service never started; 409 if it has a plan; 422 for an outcome not in the framework or a date outside the
    episode."""
    episode_within_reach(caller, store.known_episode(episode_id))
    written = handlers.agree_support_plan(store, context, handlers.AgreeSupportPlan(episode_id=episode_id,
                                                                                    **dict(body)))
    return Written(episode_id=written.id, position=runtime.saved(written.position))


@router.post("/support-episodes/{episode_id}/reviews", status_code=201)
def review_support_plan(episode_id: UUID, body: Review, store: Store, runtime: Runtime, context: Context,
                        _: CaughtUp, caller: SupportWriter) -> Written:
    """Review the plan (SupportPlanReviewed). 409 without a plan, or once the plan is closed (the episode ended
    before the review, or its departure outcomes are in); 422 for a result of an outcome never needed."""
    episode_within_reach(caller, store.known_episode(episode_id))
    written = handlers.review_support_plan(store, context, handlers.ReviewSupportPlan(episode_id=episode_id,
                                                                                      **dict(body)))
    return Written(episode_id=written.id, position=runtime.saved(written.position))


@router.post("/support-episodes/{episode_id}/departure-outcomes", status_code=201)
def record_departure_outcomes(episode_id: UUID, body: DepartureOutcomes, store: Store, runtime: Runtime,
                              context: Context, _: CaughtUp, caller: SupportWriter) -> Written:
    """Record the outcomes at departure (DepartureOutcomesRecorded): a result for every outcome needed. 409 before
    the placement service recorded the episode's end, or a second time; 422 for an outcome never needed or one
    left without a result."""
    episode_within_reach(caller, store.known_episode(episode_id))
    written = handlers.record_departure_outcomes(
        store, context, handlers.RecordDepartureOutcomes(episode_id=episode_id, **dict(body)))
    return Written(episode_id=written.id, position=runtime.saved(written.position))


@router.get("/support-episodes/{episode_id}")
def get_support_episode(episode_id: UUID, store: Store, _: CaughtUp, caller: SupportReader) -> SupportEpisodeView:
    """The episode and its plan: outcomes needed, their latest results, independence."""
    episode = store.known_episode(episode_id)
    episode_within_reach(caller, episode)
    plan = store.support_of(episode_id)
    return SupportEpisodeView(
        **{name: getattr(episode, name) for name in ("episode_id", "case_id", "person_ref", "district", "scheme_id",
                                                    "provider_id", "service_type", "started_at", "ended_at",
                                                    "departure_event_id")},
        plan_agreed=plan is not None, outcomes_needed=sorted(plan.outcomes_needed) if plan else [],
        results=dict(plan.results) if plan else {}, independence=plan.independence if plan else None,
        departure_outcomes_recorded=bool(plan and plan.departure_recorded))


@router.get("/support-episodes")
async def list_support_episodes(
    runtime: Runtime, caller: SupportReader, _: CaughtUp,
    placement_id: Annotated[UUID | None, Query(description="Only this placement's episodes")] = None,
    floating_support_id: Annotated[UUID | None, Query(description="Only this floating support episode")] = None,
    case_id: Annotated[UUID | None, Query(description="Only this case's episodes")] = None,
    scheme_id: Annotated[UUID | None, Query(description="Only this scheme's episodes")] = None,
    open_only: Annotated[bool, Query(alias="open", description="Only episodes not ended")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict]:
    """Support episodes, newest first (a provider: their own schemes'; a district officer: their district's)."""
    async with runtime.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT * FROM outcomes.support_episodes WHERE ($1::uuid IS NULL OR placement_id = $1)"
            " AND ($2::uuid IS NULL OR floating_support_id = $2) AND ($3::uuid IS NULL OR case_id = $3)"
            " AND ($4::uuid IS NULL OR scheme_id = $4) AND (NOT $5 OR ended_at IS NULL)"
            " AND ($6::uuid IS NULL OR provider_id = $6) AND ($7::text IS NULL OR district = $7)"
            " ORDER BY started_at DESC, episode_id LIMIT $8",
            placement_id, floating_support_id, case_id, scheme_id, open_only,
            caller.provider if caller.role == "provider" else None,
            caller.district if caller.is_district_officer else None, limit)
    return [{"episode_id": row["episode_id"], "placement_id": row["placement_id"],
             "floating_support_id": row["floating_support_id"], "provision_type": row["provision_type"],
             **{key: value for key, value in vars(known_episode_of(row)).items() if key != "episode_id"},
             "departure_kind": row["departure_kind"], "planned": row["planned"], "destination": row["destination"]}
            for row in rows]
