"""Pathways: the stage each step of a journey puts a young person in (as the seeds name the stages [000 slides 27-28,
35]), the variant a young person's journey takes, and the pathway map analysts read, with small numbers suppressed.

Pure functions over journey steps (`services/journeys/pathway_queries.py` reads them from the journeys read models).

Definitions:
- **Stage of a step**: presentation (ReferralMade), re-presentation (CaseReopened, and any referral of a young person
  after their first: a linked person's second case), prevention (mediation, homelessness duties), assessment,
  panel, emergency (a placement starting or moving into an assessment-stage scheme or a B&B, or started with route
  emergency), supported (into a progression or specialist scheme; floating support starting), move-on (into a
  move-on scheme; a placement or floating support ending planned). Other steps (eligibility, follow-ups, B&B nights,
  breakdowns, unplanned ends, closures, links, flags) put the young person in no new stage.
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
- **Cost**: a young person's cost is the sum of their stays' costs (pence; nothing for a journey without a costed
  stay); per planned move-on: the group's whole cost (what was spent on those who did not move on too: the cost of
  failure) over its planned move-ons (placement and floating support ends, planned). Means and medians of pence are
  rounded to the penny (half to even).

Small numbers (`suppressed`): a variant with fewer than `threshold` young people has its count and every figure
hidden (None). The total of young people is published, so when any variant is hidden, more are hidden, the
smallest shown first (ties by variant), until the hidden variants are at least two and hold at least `threshold`
young people together: the total less the shown variants then reveals only a group no smaller than the threshold.
Hidden variants are listed after the shown ones in the order of their labels (never of their hidden sizes). A total
under the threshold hides every count and figure, the total's too. Transitions (the Sankey) count the young people
of shown variants only, so no transition can be set against the variant table to recover a hidden count.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypeVar

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


@dataclass(frozen=True)
class Journey:
    """A young person's journey: the steps of every case of theirs, in the order they happened."""

    person_ref: str
    steps: tuple[Step, ...]


PREVENTION = frozenset({"MediationAttempted", "MediationConcluded", "DutyStarted", "DutyEnded"})
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
    if kind in PREVENTION:
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

    @property
    def ended_in_planned_move_on(self) -> bool:
        return not self.is_open and bool(self.variant) and self.variant[-1] == MOVE_ON_PLANNED


def figures_of(journey: Journey, today: date) -> JourneyFigures:
    """What the pathway map counts of one journey, as of `today`."""
    steps = in_order(journey.steps)
    open_stays: set[str] = set()
    open_cases: dict[str, bool] = {}
    departed_since_presented: dict[str, bool] = {}
    start: date | None = None
    last_end: date | None = None
    placements = breakdowns = planned_move_ons = 0
    for step in steps:
        day = step.occurred_at.date()
        kind, facts = step.event_type, step.facts
        if kind in ("ReferralMade", "CaseReopened"):
            start = start or (day if kind == "ReferralMade" else None)
            open_cases[step.case_id], departed_since_presented[step.case_id] = True, False
        elif kind == "CaseClosed":
            open_cases[step.case_id] = False
            last_end = max(last_end or day, day)
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
            breakdowns += kind == "PlacementBrokeDown"
            planned_move_ons += kind in PLANNED_ENDS and bool(facts.get("planned"))
    is_open = bool(open_stays) or last_end is None or any(
        case_open and not departed_since_presented[case] for case, case_open in open_cases.items())
    first = start or (steps[0].occurred_at.date() if steps else today)
    end = today if is_open else max(last_end or today, first)
    return JourneyFigures(
        person_ref=journey.person_ref, variant=variant_of(steps), days=(end - first).days, is_open=is_open,
        placements=placements, breakdowns=breakdowns, planned_move_ons=planned_move_ons,
        cost_pence=sum(step.cost_pence or 0 for step in steps))


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
    placements: int | None = None
    breakdowns_per_100_placements: float | None = None
    mean_cost_pence: int | None = None
    median_cost_pence: int | None = None
    cost_per_planned_move_on_pence: int | None = None


@dataclass(frozen=True)
class Transition:
    """Young people (of shown variants) who went from one stage straight to the next: a Sankey link."""

    from_stage: str
    to_stage: str
    young_people: int


@dataclass(frozen=True)
class PathwayMap:
    threshold: int
    total: VariantRow
    variants: list[VariantRow]
    transitions: list[Transition]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def rows(self) -> list[dict[str, Any]]:
        """One table (for CSV): the variants, the total, then the transitions; a variant's labels joined by ` > `."""
        def row(kind: str, variant_row: VariantRow) -> dict[str, Any]:
            return {"kind": kind, **asdict(variant_row), "variant": " > ".join(variant_row.variant)}

        return [*(row("variant", v) for v in self.variants), row("total", self.total),
                *({"kind": "transition", **asdict(t)} for t in self.transitions)]


def pathway_map(journeys: Iterable[Journey], *, threshold: int = 5, today: date) -> PathwayMap:
    """Journeys grouped into variants, with their figures and the transitions between stages, small numbers
    suppressed (see the module's docstring). Journeys of one `person_ref` are one young person's."""
    steps_of_person: dict[str, list[Step]] = {}
    for journey in journeys:
        steps_of_person.setdefault(journey.person_ref, []).extend(journey.steps)
    everyone = [figures_of(Journey(person, tuple(steps)), today) for person, steps in steps_of_person.items()]
    by_variant: dict[tuple[str, ...], list[JourneyFigures]] = {}
    for figures in everyone:
        by_variant.setdefault(figures.variant, []).append(figures)
    hidden, total_hidden = suppressed({variant: len(group) for variant, group in by_variant.items()}, threshold)
    shown = sorted((v for v in by_variant if v not in hidden), key=lambda v: (-len(by_variant[v]), v))
    rows = [variant_row(v, by_variant[v]) for v in shown]
    rows += [VariantRow(v, None, True) for v in sorted(hidden)]
    total = VariantRow((), None, True) if total_hidden else variant_row((), everyone)
    return PathwayMap(threshold, total, rows, transitions_of({v: len(by_variant[v]) for v in shown}))


def variant_row(variant: tuple[str, ...], group: Sequence[JourneyFigures]) -> VariantRow:
    days = [figures.days for figures in group]
    costs = [figures.cost_pence for figures in group]
    placements = sum(figures.placements for figures in group)
    planned = sum(figures.planned_move_ons for figures in group)
    return VariantRow(
        variant=variant, young_people=len(group), suppressed=False,
        median_days=float(statistics.median(days)), p90_days=percentile(days, 90),
        planned_move_on_percent=round(100 * sum(f.ended_in_planned_move_on for f in group) / len(group), 1),
        placements=placements,
        breakdowns_per_100_placements=(round(100 * sum(f.breakdowns for f in group) / placements, 1)
                                       if placements else None),
        mean_cost_pence=round(sum(costs) / len(costs)), median_cost_pence=round(statistics.median(costs)),
        cost_per_planned_move_on_pence=round(sum(costs) / planned) if planned else None)


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
