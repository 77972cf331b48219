"""What the outcomes routes take, as `Annotated` aliases (the shared ones are in `shared.web`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.outcomes.application import Outcomes
from services.outcomes.domain import KnownEpisode
from services.outcomes.rules import OutcomesRules
from shared.auth import Principal, Role, requires
from shared.service import After
from shared.web import Context, District, Runtime, Today, runtime_of

__all__ = ["After", "CaughtUp", "Context", "District", "MeasuresReader", "Rules", "Runtime", "Store",
           "SupportReader", "SupportWriter", "Today", "episode_within_reach"]

# Who may call each route (services/outcomes/README.md has the table).
SupportWriter = requires(Role.provider, Role.childrens_services, Role.admin)
"""Records support plans, reviews and outcomes at departure (a provider: in their own schemes only)."""
SupportReader = requires(Role.provider, Role.childrens_services, Role.district_officer, Role.commissioner,
                         Role.admin)
"""Reads support episodes and plans (a provider: their own schemes'; a district officer: their district's)."""
MeasuresReader = requires(Role.commissioner, Role.analyst, Role.finance_officer, Role.auditor,
                          Role.district_officer, Role.admin)
"""Reads the KPIs and tables: aggregates and event ids only (a district officer: their own district's)."""


def outcomes_of(request: Request) -> Outcomes:
    return runtime_of(request).store  # type: ignore[return-value]


def rules_of(request: Request) -> OutcomesRules:
    return request.app.state.rules


async def caught_up(request: Request, after: After = None) -> None:
    """Wait until this service's projections have applied every position in `after` (e.g. the placement
    service's `placement:12` for an episode it has only just started)."""
    await runtime_of(request).wait_for_positions(after or [])


def episode_within_reach(principal: Principal, episode: KnownEpisode) -> None:
    """403 for a provider and an episode in a scheme not theirs, or a district officer and another district's."""
    principal.confine_to_provider(episode.provider_id)
    if principal.is_district_officer:
        principal.confine_to(episode.district)


Store = Annotated[Outcomes, Depends(outcomes_of)]
Rules = Annotated[OutcomesRules, Depends(rules_of)]
CaughtUp = Annotated[None, Depends(caught_up)]
