"""The demo county's parameters: one readable YAML file (`shared/data/demo_county.yaml`), read into typed models.

Every model refuses keys it does not know and values that cannot be (a probability over 1, units below zero,
shares that do not sum to 1); `load_parameters` turns every such problem into a `ParametersRefused` naming the key
path and the reason, before the simulator or the driver has done anything."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.contracts.finance import FundingStream, Procurement
from shared.contracts.outcomes import Outcome, ServiceType
from shared.contracts.placement_vocabulary import (
    RETIRED_DESTINATIONS,
    BreakdownReason,
    Destination,
    PathwayStage,
    ProvisionType,
)
from shared.contracts.vocabulary import (
    Cohort,
    Gateway,
    Level,
    PanelDecision,
    PresentingReason,
    SupportNeed,
)

SHIPPED = Path(__file__).parents[1] / "data" / "demo_county.yaml"
"""The shipped demo county, shaped on the seeds' figures (../shared/DOMAIN.md)."""

Probability = Annotated[float, Field(ge=0, le=1)]
Units = Annotated[int, Field(ge=0, le=10_000)]
Pounds = Annotated[float, Field(ge=0, le=100_000)]
Count = Annotated[float, Field(ge=0)]
Days = Annotated[int, Field(ge=0, le=3650)]


class ParametersRefused(ValueError):
    """The parameters file cannot be used: each problem names its key path and the reason."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source, self.problems = source, problems
        super().__init__(f"{source}: " + "; ".join(f"{key}: {reason}" for key, reason in problems))


class Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _shares(values: dict, what: str = "shares") -> dict:
    """Shares of a whole: each 0..1 and together 1."""
    total = sum(values.values())
    if values and abs(total - 1.0) > 0.001:
        raise ValueError(f"{what} must sum to 1, these sum to {total:g}")
    return values


def _some(values: dict) -> dict:
    """Counts used as weights (e.g. Kent's published counts): at least one above zero."""
    if not any(value > 0 for value in values.values()):
        raise ValueError("needs at least one count above zero")
    return values


class AgeRange(Part):
    youngest: int = Field(ge=16, le=25)
    oldest: int = Field(ge=16, le=25)

    @model_validator(mode="after")
    def _ordered(self) -> AgeRange:
        if self.oldest < self.youngest:
            raise ValueError("oldest is younger than youngest")
        return self


class CohortShape(Part):
    """Who presents, how old, through which gateways, and which door their case comes in by: a district's own
    case system (NATS ingest) or a case worker of children's services (HTTP)."""

    share: Probability
    ages: AgeRange
    door: Literal["district_system", "case_worker"]
    gateways: dict[Gateway, Probability]
    presenting_reasons: dict[PresentingReason, Probability]
    support_levels: dict[Level, Probability]

    _g = field_validator("gateways", "presenting_reasons", "support_levels")(_shares)


class District(Part):
    """A district housing authority of the county (a code of the district register)."""

    code: str
    tier: Literal["two_tier", "unitary"]
    share: Probability = Field(description="Share of the county's referrals presenting here")
    mediation_returns_home: Probability = Field(
        description="Share of mediation attempts ending with a return home (30%-61% in the seeds)")


class Provider(Part):
    """An organisation running schemes of some provision types in some commissioning areas."""

    name: str = Field(min_length=1, max_length=150)
    runs: list[ProvisionType] = Field(min_length=1)
    areas: list[str] = Field(min_length=1)


class Contract(Part):
    """How a provision type is bought, at what weekly price (pounds per unit per week, or support per hour for
    floating support) and who pays what share."""

    procurement: Procurement
    service_type: ServiceType
    rent: Pounds = 0
    service_charge: Pounds = 0
    support: Pounds = 0
    per_support_hour: bool = False
    funding: dict[FundingStream, Probability]

    _f = field_validator("funding")(_shares)

    @model_validator(mode="after")
    def _hourly_is_support_only(self) -> Contract:
        if self.per_support_hour and (self.rent or self.service_charge):
            raise ValueError("a price per support hour has no rent or service charge")
        if self.per_support_hour and self.procurement in (Procurement.block_gross, Procurement.block_subsidy):
            raise ValueError("a block contract pays for units, not support hours")
        return self


class Provision(Part):
    """One provision type: its place on the pathway, its units in each district, its stays and its price."""

    pathway_stage: PathwayStage
    support_level: Level
    support_hours_per_week: float = Field(ge=0, le=168)
    units: dict[str, Units] = Field(description="Units per district code")
    stay_weeks: float = Field(gt=0, le=520, description="Average stay")
    max_stay_days: Days | None = None
    target_stay_days: Days | None = None
    registered_with_ofsted: bool = False
    contract: Contract


class DayRange(Part):
    fewest: int = Field(ge=0, le=3650)
    most: int = Field(ge=0, le=3650)

    @model_validator(mode="after")
    def _ordered(self) -> DayRange:
        if self.most < self.fewest:
            raise ValueError("most is fewer than fewest")
        return self


class PreventionShape(Part):
    """Prevention: eligibility, the prevention duty, family mediation and whether a return home lasted."""

    eligible: Probability
    mediation_attempted: Probability = Field(description="Homeless 16/17 year olds offered family mediation")
    mediation_days: DayRange
    stayed_with_wider_family_or_friends: Probability
    still_home_at_3_months: Probability
    still_home_at_6_months: Probability
    southwark_assessment: Probability = Field(
        description="Homeless 16/17 year olds accommodated under section 20 after a Southwark assessment")


class Panel(Part):
    """The weekly multi-agency panel (Somerset: about 17 young people a panel, 40% care leavers)."""

    weekday: Literal["monday", "tuesday", "wednesday", "thursday", "friday"]
    days_from_referral_to_assessment: DayRange
    decisions: dict[PanelDecision, Probability]
    support_needs: dict[SupportNeed, Probability] = Field(description="How often each need is found")

    _d = field_validator("decisions")(_shares)


class Emergency(Part):
    """A bed tonight: an emergency bed, or B&B when every emergency bed is taken."""

    needed_at_referral: Probability = Field(description="Share of young people with nowhere to stay tonight")
    accept_any_progression_after_days: Days = Field(
        description="Waiting this long, a young person takes any progression place free, not only the one chosen")
    leaves_bed_and_breakfast_per_week: Probability = Field(
        description="Weekly chance a young person in B&B leaves it (an unplanned end)")


class MoveOn(Part):
    """How stays end: Kent's departures (Q2 2013/14, seed 004 Appendix 3) as the counts published."""

    planned_share: Probability = Field(description="Kent: 383 of 508 departures planned")
    shortage_breakdown_factor: float = Field(ge=1, le=10, description=(
        "An unplanned end is this many times likelier after B&B or a place that was not the one chosen"))
    step_down_before_moving_on: Probability
    planned_destinations: dict[Destination, Count]
    unplanned_destinations: dict[Destination, Count]
    breakdown_reasons: dict[BreakdownReason, Count] = Field(
        description="For unplanned ends not decided by the destination")
    floating_support_after_own_tenancy: Probability
    returns_within_two_years: Probability = Field(description="Young people referred again after moving on")

    _p = field_validator("planned_destinations", "unplanned_destinations", "breakdown_reasons")(_some)

    @field_validator("planned_destinations")
    @classmethod
    def _plannable(cls, values: dict[Destination, float]) -> dict[Destination, float]:
        for destination in values:
            if not destination.can_be_planned:
                raise ValueError(f"{destination.value} cannot be planned")
        return values

    @field_validator("planned_destinations", "unplanned_destinations")
    @classmethod
    def _current(cls, values: dict[Destination, float]) -> dict[Destination, float]:
        for destination in values:
            if destination in RETIRED_DESTINATIONS or destination is Destination.remained_in_own_home:
                raise ValueError(f"{destination.value} is not a destination of a placement")
        return values


class FloatingSupport(Part):
    weeks: float = Field(gt=0, le=260)
    hours_per_week: float = Field(gt=0, le=40)
    ends_in_own_home: Probability


class Outcomes(Part):
    """Support plans against the outcomes framework, and how often each outcome is achieved at departure."""

    outcomes_per_plan: DayRange
    needed: dict[Outcome, Count]
    achieved: Probability
    not_applicable: Probability
    independence_maintained: Probability

    _n = field_validator("needed")(_some)


class Budget(Part):
    """A financial year's budget for a service type, in pounds, with the units it buys."""

    service_type: ServiceType
    pounds: float = Field(ge=0, le=1_000_000_000)
    capacity_units: Units | None = None


class Parameters(Part):
    """A county to simulate: who presents where, what there is for them, and how their journeys go."""

    name: str = Field(min_length=1, max_length=200)
    young_people_per_week: float = Field(gt=0, le=10_000)
    districts: list[District] = Field(min_length=1)
    commissioning_areas: dict[str, list[str]] = Field(description="Area code -> district codes")
    cohorts: dict[Cohort, CohortShape]
    providers: list[Provider] = Field(min_length=1)
    provision: dict[ProvisionType, Provision]
    budgets: list[Budget]
    prevention: PreventionShape
    panel: Panel
    emergency: Emergency
    move_on: MoveOn
    floating_support: FloatingSupport
    outcomes: Outcomes

    @field_validator("cohorts")
    @classmethod
    def _cohort_shares(cls, cohorts: dict[Cohort, CohortShape]) -> dict[Cohort, CohortShape]:
        _shares({cohort: shape.share for cohort, shape in cohorts.items()}, "cohort shares")
        for cohort, shape in cohorts.items():
            if not set(range(shape.ages.youngest, shape.ages.oldest + 1)) <= set(cohort.ages):
                raise ValueError(f"{cohort.value} is {cohort.ages.start}-{cohort.ages.stop - 1}, not "
                                 f"{shape.ages.youngest}-{shape.ages.oldest}")
        return cohorts

    @model_validator(mode="after")
    def _fits_the_register(self) -> Parameters:
        from shared.districts import district_register

        register = district_register()
        codes = [district.code for district in self.districts]
        _shares({district.code: district.share for district in self.districts}, "district shares")
        problems = []
        for district in self.districts:
            if district.code not in register.districts:
                problems.append(f"district {district.code!r} is not in the district register")
                continue
            unitary = register.district(district.code).unitary
            if unitary != (district.tier == "unitary"):
                problems.append(f"district {district.code!r} is {'unitary' if unitary else 'two-tier'} in the "
                                f"district register, not {district.tier}")
        for area, members in self.commissioning_areas.items():
            for code in members:
                if code not in codes:
                    problems.append(f"commissioning area {area!r} names {code!r}, not a district of the county")
                elif code in register.districts and area not in register.district(code).areas:
                    problems.append(f"{code!r} is not in commissioning area {area!r} in the district register")
        for provider in self.providers:
            for area in provider.areas:
                if area not in self.commissioning_areas:
                    problems.append(f"provider {provider.name!r} names area {area!r}, not one of the county's")
        for kind, provision in self.provision.items():
            for code, units in provision.units.items():
                if code not in codes:
                    problems.append(f"provision {kind.value} has units in {code!r}, not a district of the county")
                elif units and not self.provider_of(kind, code):
                    problems.append(f"no provider runs {kind.value} in {code!r}")
        for shape in self.cohorts.values():
            for level in shape.support_levels:
                if not any(p.support_level is level and p.pathway_stage is PathwayStage.progression
                           for p in self.provision.values()):
                    problems.append(f"no progression provision gives {level.value} support")
        if ProvisionType.bed_and_breakfast not in self.provision:
            problems.append("provision needs bed_and_breakfast: where young people go when emergency beds are full")
        if problems:
            raise ValueError("; ".join(dict.fromkeys(problems)))
        return self

    def provider_of(self, kind: ProvisionType, district: str) -> Provider | None:
        areas = [area for area, members in self.commissioning_areas.items() if district in members]
        return next((p for p in self.providers if kind in p.runs and set(p.areas) & set(areas)), None)

    def area_of(self, district: str) -> str:
        return next(area for area, members in self.commissioning_areas.items() if district in members)

    def check_in_force(self, first_day: date, last_day: date) -> None:
        """ParametersRefused if a district is not in force on every simulated day (a new referral must name a
        district in force on its day)."""
        from shared.districts import district_register

        register = district_register()
        problems = []
        for index, district in enumerate(self.districts):
            entry = register.district(district.code)
            if not (entry.in_force_on(first_day) and entry.in_force_on(last_day)):
                until = f" until {entry.in_force_until}" if entry.in_force_until else ""
                problems.append((f"districts.{index}.code", f"{district.code} is in force from {entry.in_force_from}"
                                 f"{until}, not on every day from {first_day} to {last_day}: simulate fewer years "
                                 "or name its successor"))
        if problems:
            raise ParametersRefused("parameters", problems)


def load_parameters(path: Path | str = SHIPPED) -> Parameters:
    """The parameters in the YAML file at `path`; ParametersRefused naming each bad key and why."""
    path = Path(path)
    source = str(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ParametersRefused(source, [("(file)", error.strerror or str(error))]) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        raise ParametersRefused(source, [(where, f"not YAML: {getattr(error, 'problem', error)}")]) from None
    try:
        return Parameters.model_validate(data)
    except ValidationError as error:
        raise ParametersRefused(source, [(_key_path(problem["loc"]), _reason(problem))
                                         for problem in error.errors()]) from None


def _key_path(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _reason(problem: dict) -> str:
    if problem["type"] == "extra_forbidden":
        return "unknown key"
    return problem["msg"].removeprefix("Value error, ")
