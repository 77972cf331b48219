"""Pathways: the stage each step of a journey puts a young person in (as the seeds name the stages [000 slides 27-28,
35]), the variant a young person's journey takes, and the pathway map analysts read, with small numbers suppressed.

Pure functions over journey steps (`services/journeys/pathway_queries.py` reads them from the journeys read models).

Definitions:
- **Stage of a step**: presentation (ReferralMade), re-presentation (CaseReopened, and any referral of a young person
  after their first: a linked person's second case), prevention (mediation, a prevention duty starting), assessment,
  panel, emergency (a placement starting or moving into an assessment-stage scheme or a B&B, or started with route
  emergency), supported (into a progression or specialist scheme; floating support starting), move-on (into a
  move-on scheme; a placement or floating support ending planned). Other steps (eligibility, relief and main duties,
  duties ending, follow-ups, B&B nights, breakdowns, unplanned ends, closures, links, flags) put the young person in
  no new stage.
- **Variant**: the labels of a young person's staged steps in the order they happened (a placement's label names
  its provision type, `supported:foyer`; a planned end is `move_on:planned`), consecutive repeats collapsed.
- **End to end**: days from the young person's first referral to the day their journey ended (the later of their
  last departure and their last case closure), or to today while it is open: a stay (placement or floating support)
  still open, or a case open with no departure since its last (re)presentation.
- **Median** of an even count is the mean of the two middle values; **90th percentile** is the nearest rank: the
  ceil(0.9 n)-th smallest value.
- **Ending in a planned move-on**: the journey is over and its variant's last label is `move_on:planned`.
- **Breakdowns per 100 placements**: PlacementBrokeDown steps per 100 PlacementStarted steps (a move between
  schemes is not a new placement).
- **Returning within 12 months** (a variant's `returning_within_12_months_percent`): of its young people with a
  planned move-on (a placement or floating support ending planned), the share presented again (a referral after
  their first, e.g. a linked case's, or a CaseReopened) after one of those move-ons and no later than the same day
  12 calendar months on (29 February: 28 February). Only young people whose outcome is known count: those who
  returned, and those whose last planned move-on was more than 12 months ago (a move-on less than 12 months ago
  may still see a return, so it is left out until it does or its 12 months are over). None when nobody counts.
- **Cost**: a young person's cost is the sum of their stays' costs (pence; nothing for a journey without a costed
  stay); per planned move-on: the group's whole cost (what was spent on those who did not move on too: the cost of
  failure) over its planned move-ons (placement and floating support ends, planned). Means and medians of pence are
  rounded to the penny (half to even).

- **Breakdowns by reason and stage** (`breakdowns`): pooled across variants, one cell per breakdown `reason` and
  the stage the young person was in when it broke down (the stage of their last staged step before it): its
  PlacementBrokeDown steps, and those per 100 placements (PlacementStarted steps of every chosen journey).
- **Time in stage** (`time_in_stage`): a young person's days in a stage are the days from entering it (the first
  step of a run of steps in that stage) to entering the next stage, or to the day their journey ended (today while
  open; as in end to end), summed over their visits to it; per stage, the median and 90th percentile of those
  days over the young people who were ever in it.
- **Panel throughput** (`panel_throughput`): PanelDecisionMade steps per commissioning area and month (of the
  day the decision was made, UTC), in all and by decision. A step's area is its district's in the district
  register (`shared/districts.py`; a district in several areas counts in each; a district with no area, or unknown
  to the register, is its own area).

Small numbers (`suppressed`): a variant with fewer than `threshold` young people has its count and every figure
hidden (None). The total of young people is published, so when any variant is hidden, more are hidden, the
smallest shown first (ties by variant), until the hidden variants are at least two and hold at least `threshold`
young people together: the total less the shown variants then reveals only a group no smaller than the threshold.
Hidden variants are pooled in one row after the shown ones, `other variants`, with their young people added up
(what the total less the shown variants gives anyway) and no figures: a hidden variant's labels are never shown, so
nobody learns that someone took a rare path. A total
under the threshold hides every count and figure, the total's too. Transitions (the Sankey) count the young people
of shown variants only, so no transition can be set against the variant table to recover a hidden count.
The breakdown, time-in-stage and panel throughput tables follow the same rule, each table on its own, counting the
young people of each cell (a cell with fewer than `threshold` hidden, with enough others; all hidden when the
table's young people, added up, are under it); within a shown panel cell its decisions by decision follow it too
(a hidden decision's count is None). Their cells are listed shown first, then hidden, each in the order of their
keys.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypeVar

from shared.contracts.vocabulary import UnknownDistrict
from shared.districts import district_register

K = TypeVar("K", bound=Hashable)


class Stage(StrEnum):
    """The pathway stages a young person moves through, as the seeds name them."""

    presentation = "presentation"
    prevention = "prevention"
    assessment = "assessment"
    panel = "panel"
    emergency = "emergency"
    supported = "supported"
    """Progression and specialist schemes, and floating support."""
    move_on = "move_on"
    re_presentation = "re_presentation"


@dataclass(frozen=True)
class Step:
    """One step of a journey: an event's type, when it happened, its facts (the envelope aside, as in
    `journey_steps`), and the cost of the stay it began, if it began one."""

    event_type: str
    occurred_at: datetime
    facts: Mapping[str, Any] = field(default_factory=dict)
    case_id: str = ""
    event_id: str = ""
    cost_pence: int | None = None
    district: str = ""
    cost_by_stream: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Journey:
    """A young person's journey: the steps of every case of theirs, in the order they happened."""

    person_ref: str
    steps: tuple[Step, ...]


PREVENTION = frozenset({"MediationAttempted", "MediationConcluded"})
"""With a prevention duty starting (DutyStarted, duty prevention): the steps of the prevention stage."""
INTO_A_SCHEME = frozenset({"PlacementStarted", "PlacementMoved"})
DEPARTURES = frozenset({"PlacementEnded", "PlacementBrokeDown", "FloatingSupportEnded"})
PLANNED_ENDS = frozenset({"PlacementEnded", "FloatingSupportEnded"})
MOVE_ON_PLANNED = "move_on:planned"


def stage_of(step: Step) -> Stage | None:
    """The pathway stage a step puts the young person in; None for a step that starts no stage."""
    kind, facts = step.event_type, step.facts
    if kind == "ReferralMade":
        return Stage.presentation
    if kind == "CaseReopened":
        return Stage.re_presentation
    if kind in PREVENTION or (kind == "DutyStarted" and facts.get("duty") == "prevention"):
        return Stage.prevention
    if kind == "AssessmentCompleted":
        return Stage.assessment
    if kind == "PanelDecisionMade":
        return Stage.panel
    if kind in INTO_A_SCHEME:
        if (facts.get("pathway_stage") == "assessment" or facts.get("provision_type") == "bed_and_breakfast"
                or facts.get("route") == "emergency"):
            return Stage.emergency
        return Stage.move_on if facts.get("pathway_stage") == "move_on" else Stage.supported
    if kind == "FloatingSupportStarted":
        return Stage.supported
    if kind in PLANNED_ENDS and facts.get("planned"):
        return Stage.move_on
    return None


def label_of(step: Step, stage: Stage) -> str:
    """A staged step's label in a variant: a scheme's stage with its provision type, a planned end `move_on:planned`,
    others their stage."""
    if step.event_type in INTO_A_SCHEME:
        return f"{stage.value}:{step.facts.get('provision_type')}"
    if step.event_type == "FloatingSupportStarted":
        return f"{stage.value}:floating_support"
    if step.event_type in PLANNED_ENDS:
        return MOVE_ON_PLANNED
    return stage.value


def in_order(steps: Iterable[Step]) -> list[Step]:
    """Steps in the order they happened (a referral first of the steps at its moment: nothing of its case is
    before it), otherwise in the order given."""
    return sorted(steps, key=lambda step: (step.occurred_at, step.event_type != "ReferralMade"))


def staged(steps: Iterable[Step]) -> list[tuple[Step, Stage | None, str | None]]:
    """Each step in the order it happened, with its stage and label in this journey: a referral after the young
    person's first is a re-presentation."""
    result: list[tuple[Step, Stage | None, str | None]] = []
    presented = False
    for step in in_order(steps):
        stage = stage_of(step)
        if stage is Stage.presentation:
            stage = Stage.re_presentation if presented else stage
            presented = True
        result.append((step, stage, label_of(step, stage) if stage is not None else None))
    return result


def variant_of(journey_steps: Iterable[Step]) -> tuple[str, ...]:
    """The sequence of stages and provision types of a journey, consecutive repeats collapsed."""
    return collapsed(label for _, _, label in staged(journey_steps) if label is not None)


def stages_along(variant: Sequence[str]) -> tuple[str, ...]:
    """A variant's stages alone (provision types dropped), consecutive repeats collapsed."""
    return collapsed(label.split(":", 1)[0] for label in variant)


def collapsed(labels: Iterable[str]) -> tuple[str, ...]:
    result: list[str] = []
    for label in labels:
        if not result or result[-1] != label:
            result.append(label)
    return tuple(result)


# -- one journey's figures --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JourneyFigures:
    person_ref: str
    variant: tuple[str, ...]
    days: int
    is_open: bool
    placements: int
    breakdowns: int
    planned_move_ons: int
    cost_pence: int
    returned_within_12_months: bool | None = None
    """None: no planned move-on."""
    last_planned_move_on: date | None = None
    return_known: bool = False
    """Returned within 12 months of a planned move-on, or 12 months have passed since the last one (as of today)."""
    days_in_stage: Mapping[str, int] = field(default_factory=dict)
    breakdowns_by: tuple[tuple[str, str], ...] = ()
    """(reason, stage) of each breakdown."""
    panel_decisions: tuple[tuple[str, str, str], ...] = ()
    """(district, month, decision) of each panel decision."""
    cost_by_stream: Mapping[str, int] = field(default_factory=dict)
    first_day: date | None = None
    end_day: date | None = None
    """The day the journey ended; None while it is open (its days run to today)."""
    stage_days_before_last: Mapping[str, int] = field(default_factory=dict)
    """Days in each stage it was ever in, the last run of the last stage left out (it runs to `end_day`, or today
    while open): what a stored summary keeps, since it does not depend on today."""
    last_stage: str | None = None
    last_entered: date | None = None
    stays_ended: int = 0
    """Stays in a scheme that ended (a move, a breakdown or an end), each held to its scheme's limits."""
    stays_with_maximum: int = 0
    stays_over_maximum: int = 0
    stays_with_target: int = 0
    stays_over_target: int = 0

    @property
    def ended_in_planned_move_on(self) -> bool:
        return not self.is_open and bool(self.variant) and self.variant[-1] == MOVE_ON_PLANNED


def months_after(day: date, months: int) -> date:
    """The same day `months` calendar months on (the month's last day if it has no such day)."""
    year, month = divmod(day.month - 1 + months, 12)
    year, month = day.year + year, month + 1
    last = (date(year + month // 12, month % 12 + 1, 1) - date(year, month, 1)).days
    return date(year, month, min(day.day, last))


StayLimits = Callable[[str, date], tuple[int | None, int | None]]
"""A scheme's (maximum, target) stay in days for a stay begun on a day; (None, None): none known."""


def no_limits(_scheme: str, _began: date) -> tuple[int | None, int | None]:
    return None, None


def ended_stays(timeline: Sequence[tuple[Step, Stage | None, str | None]]) -> list[tuple[str, date, int]]:
    """Each stay in a scheme that ended: (scheme, the day it began, its days). A move ends the stay in the scheme
    left and begins one in the scheme moved to."""
    began: dict[str, tuple[str, date]] = {}
    stays = []
    for step, _, _ in timeline:
        placement, day = str(step.facts.get("placement_id")), step.occurred_at.date()
        if step.event_type in INTO_A_SCHEME:
            if step.event_type == "PlacementMoved" and placement in began:
                scheme, since = began[placement]
                stays.append((scheme, since, (day - since).days))
            began[placement] = (str(step.facts.get("scheme_id")), day)
        elif step.event_type in ("PlacementEnded", "PlacementBrokeDown") and placement in began:
            scheme, since = began.pop(placement)
            stays.append((scheme, since, max(0, (day - since).days)))
    return stays


def figures_of(journey: Journey, today: date, limits_of: StayLimits = no_limits) -> JourneyFigures:
    """What the pathway map counts of one journey, as of `today` (its stays held to `limits_of`)."""
    timeline = staged(journey.steps)
    steps = [step for step, _, _ in timeline]
    open_stays: set[str] = set()
    open_cases: dict[str, bool] = {}
    departed_since_presented: dict[str, bool] = {}
    start: date | None = None
    last_end: date | None = None
    placements = breakdowns = planned_move_ons = 0
    move_ons: list[datetime] = []
    returns: list[datetime] = []
    breakdowns_by: list[tuple[str, str]] = []
    panel_decisions: list[tuple[str, str, str]] = []
    current: Stage | None = None
    for step, stage, _ in timeline:
        day = step.occurred_at.date()
        kind, facts = step.event_type, step.facts
        if stage is Stage.re_presentation:
            returns.append(step.occurred_at)
        current = stage or current
        if kind in ("ReferralMade", "CaseReopened"):
            start = start or (day if kind == "ReferralMade" else None)
            open_cases[step.case_id], departed_since_presented[step.case_id] = True, False
        elif kind == "CaseClosed":
            open_cases[step.case_id] = False
            last_end = max(last_end or day, day)
        elif kind == "PanelDecisionMade":
            panel_decisions.append((step.district, f"{day:%Y-%m}", str(facts.get("decision"))))
        if kind == "PlacementStarted":
            placements += 1
        if kind in ("PlacementStarted", "PlacementMoved"):
            open_stays.add(f"placement:{facts.get('placement_id')}")
        elif kind == "FloatingSupportStarted":
            open_stays.add(f"floating:{facts.get('episode_id')}")
        elif kind in DEPARTURES:
            open_stays.discard(f"floating:{facts.get('episode_id')}" if kind == "FloatingSupportEnded"
                               else f"placement:{facts.get('placement_id')}")
            departed_since_presented[step.case_id] = True
            last_end = max(last_end or day, day)
            if kind == "PlacementBrokeDown":
                breakdowns += 1
                breakdowns_by.append((str(facts.get("reason")), current.value if current else "none"))
            if kind in PLANNED_ENDS and facts.get("planned"):
                planned_move_ons += 1
                move_ons.append(step.occurred_at)
    is_open = bool(open_stays) or last_end is None or any(
        case_open and not departed_since_presented[case] for case, case_open in open_cases.items())
    first = start or (steps[0].occurred_at.date() if steps else today)
    end = today if is_open else max(last_end or today, first)
    entries = stage_entries(timeline)
    entered, last = entries[-1] if entries else (None, None)
    stays = [(days, *limits_of(scheme, began)) for scheme, began, days in ended_stays(timeline)]
    returned = any(moved < back and back.date() <= months_after(moved.date(), 12)
                   for moved in move_ons for back in returns)
    return JourneyFigures(
        person_ref=journey.person_ref, variant=collapsed(label for _, _, label in timeline if label is not None),
        days=(end - first).days, is_open=is_open, placements=placements, breakdowns=breakdowns,
        planned_move_ons=planned_move_ons, cost_pence=sum(step.cost_pence or 0 for step in steps),
        cost_by_stream=streams_of(steps),
        returned_within_12_months=returned if move_ons else None,
        last_planned_move_on=move_ons[-1].date() if move_ons else None,
        return_known=returned or bool(move_ons) and months_after(move_ons[-1].date(), 12) < today,
        days_in_stage=days_in_stage(timeline, end), breakdowns_by=tuple(breakdowns_by),
        panel_decisions=tuple(panel_decisions), first_day=first, end_day=None if is_open else end,
        stage_days_before_last=days_in_stage(timeline, None), last_stage=last.value if last else None,
        last_entered=entered, stays_ended=len(stays),
        stays_with_maximum=sum(maximum is not None for _, maximum, _ in stays),
        stays_over_maximum=sum(maximum is not None and days > maximum for days, maximum, _ in stays),
        stays_with_target=sum(target is not None for _, _, target in stays),
        stays_over_target=sum(target is not None and days > target for days, _, target in stays))


def streams_of(steps: Iterable[Step]) -> dict[str, int]:
    """The steps' stay costs added up by funding stream."""
    streams: dict[str, int] = {}
    for step in steps:
        for stream, pence in step.cost_by_stream.items():
            streams[stream] = streams.get(stream, 0) + pence
    return {stream: pence for stream, pence in streams.items() if pence}


def stage_entries(timeline: Sequence[tuple[Step, Stage | None, str | None]]) -> list[tuple[date, Stage]]:
    """The day the young person entered each stage, in order (a run of steps in one stage is one entry)."""
    runs = [(step.occurred_at.date(), stage) for step, stage, _ in timeline if stage is not None]
    return [(day, stage) for n, (day, stage) in enumerate(runs) if n == 0 or runs[n - 1][1] is not stage]


def days_in_stage(timeline: Sequence[tuple[Step, Stage | None, str | None]], end: date | None) -> dict[str, int]:
    """Days from entering each stage to entering the next (the last: to `end`; None: the last run counts 0, but
    its stage is listed), summed over visits to it."""
    days: dict[str, int] = {}
    entries = stage_entries(timeline)
    for (entered, stage), (left, _) in zip(entries, [*entries[1:], (end, None)], strict=True):
        days[stage.value] = days.get(stage.value, 0) + max(0, (max(left or entered, entered) - entered).days)
    return days


# -- the map ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariantRow:
    """A variant's young people and figures (all None when suppressed)."""

    variant: tuple[str, ...]
    young_people: int | None
    suppressed: bool
    median_days: float | None = None
    p90_days: int | None = None
    planned_move_on_percent: float | None = None
    returning_within_12_months_percent: float | None = None
    placements: int | None = None
    breakdowns_per_100_placements: float | None = None
    mean_cost_pence: int | None = None
    median_cost_pence: int | None = None
    cost_per_planned_move_on_pence: int | None = None
    cost_by_stream_pence: dict[str, int] | None = None
    """The group's whole cost by funding stream (a cost finance did not split: `not_split`)."""
    stays_ended: int | None = None
    stays_over_maximum_percent: float | None = None
    """Of the ended stays whose scheme had a maximum stay then, the share that lasted longer."""
    stays_over_target_percent: float | None = None


OTHER_VARIANTS = ("other variants",)
"""The one row the hidden variants are pooled in: its count only (their labels are never shown)."""


@dataclass(frozen=True)
class Transition:
    """Young people (of shown variants) who went from one stage straight to the next: a Sankey link."""

    from_stage: str
    to_stage: str
    young_people: int


@dataclass(frozen=True)
class BreakdownCell:
    """Breakdowns for one reason in one stage (pooled across variants; figures None when suppressed)."""

    reason: str
    stage: str
    young_people: int | None
    suppressed: bool
    breakdowns: int | None = None
    breakdowns_per_100_placements: float | None = None


@dataclass(frozen=True)
class StageTime:
    """Days the young people who were ever in a stage spent in it (None when suppressed)."""

    stage: str
    young_people: int | None
    suppressed: bool
    median_days: float | None = None
    p90_days: int | None = None


@dataclass(frozen=True)
class PanelThroughput:
    """Panel decisions in a commissioning area in a month (`YYYY-MM`), in all and by decision (None when
    suppressed)."""

    area: str
    month: str
    young_people: int | None
    suppressed: bool
    decisions: int | None = None
    by_decision: dict[str, int | None] = field(default_factory=dict)


@dataclass(frozen=True)
class PathwayMap:
    threshold: int
    total: VariantRow
    variants: list[VariantRow]
    transitions: list[Transition]
    breakdowns: list[BreakdownCell] = field(default_factory=list)
    time_in_stage: list[StageTime] = field(default_factory=list)
    panel_throughput: list[PanelThroughput] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def rows(self) -> list[dict[str, Any]]:
        """One table (for CSV): the variants, the total, the transitions, then the breakdown, time-in-stage and
        panel throughput cells, each row's `kind` saying which; a variant's labels joined by ` > `."""
        def row(kind: str, variant_row: VariantRow) -> dict[str, Any]:
            return {"kind": kind, **asdict(variant_row), "variant": " > ".join(variant_row.variant)}

        return [*(row("variant", v) for v in self.variants), row("total", self.total),
                *({"kind": "transition", **asdict(t)} for t in self.transitions),
                *({"kind": "breakdown", **asdict(cell)} for cell in self.breakdowns),
                *({"kind": "time_in_stage", **asdict(cell)} for cell in self.time_in_stage),
                *({"kind": "panel_throughput", **asdict(cell)} for cell in self.panel_throughput)]


# -- tallies: what the map counts, before suppression (in Python here; in SQL over the stored summaries in
# services/journeys/summaries.py) -----------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupTally:
    """A group of young people (a variant's, or everyone's): what its row shows, before suppression."""

    young_people: int
    median_days: float
    p90_days: int
    ended_in_planned_move_on: int
    moved_on: int
    """Young people with a planned move-on whose return is known (see `JourneyFigures.return_known`)."""
    returned_within_12_months: int
    placements: int
    breakdowns: int
    planned_move_ons: int
    cost_pence: int
    median_cost_pence: float
    cost_by_stream: Mapping[str, int] = field(default_factory=dict)
    stays_ended: int = 0
    stays_with_maximum: int = 0
    stays_over_maximum: int = 0
    stays_with_target: int = 0
    stays_over_target: int = 0


@dataclass(frozen=True)
class CellTally:
    """A cell of the breakdown, time-in-stage or panel table: its young people and what it counts."""

    young_people: int
    count: int = 0
    """Breakdowns, or panel decisions."""
    median_days: float | None = None
    p90_days: int | None = None
    by_decision: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    """A panel cell's decisions: decision -> (young people, decisions)."""


@dataclass(frozen=True)
class Tallies:
    variants: Mapping[tuple[str, ...], GroupTally]
    total: GroupTally | None
    """None: nobody."""
    placements: int = 0
    breakdowns: Mapping[tuple[str, str], CellTally] = field(default_factory=dict)
    """(reason, stage) -> its cell."""
    stages: Mapping[str, CellTally] = field(default_factory=dict)
    panels: Mapping[tuple[str, str], CellTally] = field(default_factory=dict)
    """(area, month) -> its cell."""


def areas_in_register(district: str) -> tuple[str, ...]:
    """A district's commissioning areas in the district register in force; a district with none, or unknown to
    the register, is its own."""
    try:
        return district_register().district(district).areas or (district,)
    except UnknownDistrict:
        return (district,)


def pathway_map(journeys: Iterable[Journey], *, threshold: int = 5, today: date,
                areas_of: Callable[[str], tuple[str, ...]] = areas_in_register,
                limits_of: StayLimits = no_limits) -> PathwayMap:
    """Journeys grouped into variants, with their figures and the transitions between stages, the breakdowns by
    reason and stage, the time in each stage and the panel throughput per area (`areas_of` a district) and month,
    small numbers suppressed (see the module's docstring). Journeys of one `person_ref` are one young person's."""
    steps_of_person: dict[str, list[Step]] = {}
    for journey in journeys:
        steps_of_person.setdefault(journey.person_ref, []).extend(journey.steps)
    everyone = [figures_of(Journey(person, tuple(steps)), today, limits_of)
                for person, steps in steps_of_person.items()]
    return map_of(tallies_of(everyone, areas_of), threshold)


def tallies_of(everyone: Sequence[JourneyFigures],
               areas_of: Callable[[str], tuple[str, ...]] = areas_in_register) -> Tallies:
    """What the map counts of these young people's figures (each young person's once)."""
    by_variant: dict[tuple[str, ...], list[JourneyFigures]] = {}
    for figures in everyone:
        by_variant.setdefault(figures.variant, []).append(figures)
    return Tallies({variant: group_tally(group) for variant, group in by_variant.items()},
                   group_tally(everyone) if everyone else None, sum(figures.placements for figures in everyone),
                   breakdown_tallies(everyone), stage_tallies(everyone), panel_tallies(everyone, areas_of))


def group_tally(group: Sequence[JourneyFigures]) -> GroupTally:
    days = [figures.days for figures in group]
    costs = [figures.cost_pence for figures in group]
    streams: dict[str, int] = {}
    for figures in group:
        for stream, pence in figures.cost_by_stream.items():
            streams[stream] = streams.get(stream, 0) + pence
    moved_on = [figures for figures in group if figures.return_known]
    return GroupTally(
        young_people=len(group), median_days=float(statistics.median(days)), p90_days=percentile(days, 90),
        ended_in_planned_move_on=sum(figures.ended_in_planned_move_on for figures in group), moved_on=len(moved_on),
        returned_within_12_months=sum(bool(figures.returned_within_12_months) for figures in moved_on),
        placements=sum(figures.placements for figures in group), breakdowns=sum(f.breakdowns for f in group),
        planned_move_ons=sum(figures.planned_move_ons for figures in group), cost_pence=sum(costs),
        median_cost_pence=float(statistics.median(costs)), cost_by_stream=dict(sorted(streams.items())),
        **{name: sum(getattr(figures, name) for figures in group) for name in STAY_COUNTS})


STAY_COUNTS = ("stays_ended", "stays_with_maximum", "stays_over_maximum", "stays_with_target", "stays_over_target")


def breakdown_tallies(everyone: Sequence[JourneyFigures]) -> dict[tuple[str, str], CellTally]:
    people: dict[tuple[str, str], set[str]] = {}
    counts: dict[tuple[str, str], int] = {}
    for figures in everyone:
        for key in figures.breakdowns_by:
            people.setdefault(key, set()).add(figures.person_ref)
            counts[key] = counts.get(key, 0) + 1
    return {key: CellTally(len(people[key]), counts[key]) for key in people}


def stage_tallies(everyone: Sequence[JourneyFigures]) -> dict[str, CellTally]:
    days: dict[str, list[int]] = {}
    for figures in everyone:
        for stage, stage_days in figures.days_in_stage.items():
            days.setdefault(stage, []).append(stage_days)
    return {stage: CellTally(len(values), median_days=float(statistics.median(values)),
                             p90_days=percentile(values, 90)) for stage, values in days.items()}


def panel_tallies(everyone: Sequence[JourneyFigures],
                  areas_of: Callable[[str], tuple[str, ...]]) -> dict[tuple[str, str], CellTally]:
    people: dict[tuple[str, str], set[str]] = {}
    decided: dict[tuple[str, str], dict[str, set[str]]] = {}
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for figures in everyone:
        for district, month, decision in figures.panel_decisions:
            for area in areas_of(district):
                people.setdefault((area, month), set()).add(figures.person_ref)
                decided.setdefault((area, month), {}).setdefault(decision, set()).add(figures.person_ref)
                cell = counts.setdefault((area, month), {})
                cell[decision] = cell.get(decision, 0) + 1
    return {key: CellTally(len(people[key]), sum(counts[key].values()), by_decision={
        decision: (len(decided[key][decision]), counts[key][decision]) for decision in counts[key]})
        for key in people}


def map_of(tallies: Tallies, threshold: int) -> PathwayMap:
    """The pathway map of the tallies, small numbers suppressed (the rule in the module's docstring)."""
    counts = {variant: tally.young_people for variant, tally in tallies.variants.items()}
    hidden, total_hidden = suppressed(counts, threshold)
    shown = sorted((v for v in counts if v not in hidden), key=lambda v: (-counts[v], v))
    rows = [variant_row(v, tallies.variants[v]) for v in shown]
    if hidden:
        rows.append(VariantRow(OTHER_VARIANTS, None if total_hidden else sum(counts[v] for v in hidden), True))
    total = (VariantRow((), None, True) if total_hidden or tallies.total is None
             else variant_row((), tallies.total))
    return PathwayMap(threshold, total, rows, transitions_of({v: counts[v] for v in shown}),
                      breakdown_cells(tallies, threshold), stage_times(tallies, threshold),
                      panel_cells(tallies, threshold))


def shown_then_hidden(cells: Mapping[K, CellTally], threshold: int) -> tuple[list[K], list[K]]:
    """A table's cells to show and to hide, each in the order of their keys."""
    hidden, _ = suppressed({key: cell.young_people for key, cell in cells.items()}, threshold)
    return sorted(key for key in cells if key not in hidden), sorted(hidden)


def breakdown_cells(tallies: Tallies, threshold: int) -> list[BreakdownCell]:
    shown, hidden = shown_then_hidden(tallies.breakdowns, threshold)
    cells = tallies.breakdowns
    return [*(BreakdownCell(reason, stage, cells[reason, stage].young_people, False, cells[reason, stage].count,
                            round(100 * cells[reason, stage].count / tallies.placements, 1)
                            if tallies.placements else None) for reason, stage in shown),
            *(BreakdownCell(reason, stage, None, True) for reason, stage in hidden)]


def stage_times(tallies: Tallies, threshold: int) -> list[StageTime]:
    order = {stage.value: n for n, stage in enumerate(Stage)}
    shown, hidden = shown_then_hidden(tallies.stages, threshold)
    cells = tallies.stages
    return [*(StageTime(stage, cells[stage].young_people, False, cells[stage].median_days, cells[stage].p90_days)
              for stage in sorted(shown, key=lambda stage: order.get(stage, len(order)))),
            *(StageTime(stage, None, True) for stage in sorted(hidden, key=lambda stage: order.get(stage, len(order))))]


def panel_cells(tallies: Tallies, threshold: int) -> list[PanelThroughput]:
    shown, hidden = shown_then_hidden(tallies.panels, threshold)
    result = []
    for key in shown:
        cell = tallies.panels[key]
        hidden_decisions, _ = suppressed({decision: people for decision, (people, _) in cell.by_decision.items()},
                                         threshold)
        result.append(PanelThroughput(*key, cell.young_people, False, cell.count, {
            decision: None if decision in hidden_decisions else count
            for decision, (_, count) in sorted(cell.by_decision.items())}))
    return result + [PanelThroughput(area, month, None, True) for area, month in hidden]


def variant_row(variant: tuple[str, ...], tally: GroupTally) -> VariantRow:
    return VariantRow(
        variant=variant, young_people=tally.young_people, suppressed=False, median_days=tally.median_days,
        p90_days=tally.p90_days,
        planned_move_on_percent=round(100 * tally.ended_in_planned_move_on / tally.young_people, 1),
        returning_within_12_months_percent=(round(100 * tally.returned_within_12_months / tally.moved_on, 1)
                                            if tally.moved_on else None),
        placements=tally.placements,
        breakdowns_per_100_placements=(round(100 * tally.breakdowns / tally.placements, 1)
                                       if tally.placements else None),
        mean_cost_pence=round(tally.cost_pence / tally.young_people), median_cost_pence=round(tally.median_cost_pence),
        cost_per_planned_move_on_pence=(round(tally.cost_pence / tally.planned_move_ons)
                                        if tally.planned_move_ons else None),
        cost_by_stream_pence=dict(tally.cost_by_stream), stays_ended=tally.stays_ended,
        stays_over_maximum_percent=(round(100 * tally.stays_over_maximum / tally.stays_with_maximum, 1)
                                    if tally.stays_with_maximum else None),
        stays_over_target_percent=(round(100 * tally.stays_over_target / tally.stays_with_target, 1)
                                   if tally.stays_with_target else None))


def percentile(values: Sequence[int], rank: int) -> int:
    """The nearest-rank percentile: the ceil(rank/100 * n)-th smallest value."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(rank * len(ordered) / 100)) - 1]


def suppressed(counts: Mapping[K, int], threshold: int) -> tuple[set[K], bool]:
    """Which cells of a table to hide, and whether its total is hidden too (the rule in the module's docstring)."""
    if sum(counts.values()) < threshold:
        return set(counts), True
    hidden = {key for key, count in counts.items() if count < threshold}
    shown = sorted((key for key in counts if key not in hidden), key=lambda key: (counts[key], key))
    while hidden and shown and (len(hidden) < 2 or sum(counts[key] for key in hidden) < threshold):
        hidden.add(shown.pop(0))
    return hidden, False


def transitions_of(variants: Mapping[tuple[str, ...], int]) -> list[Transition]:
    """Young people per move from one stage to the next (each young person once per move, however often they made
    it), from the variants given."""
    links: dict[tuple[str, str], int] = {}
    for variant, young_people in variants.items():
        stages = stages_along(variant)
        for link in set(zip(stages, stages[1:], strict=False)):
            links[link] = links.get(link, 0) + young_people
    return [Transition(a, b, n) for (a, b), n in sorted(links.items(), key=lambda item: (-item[1], item[0]))]
