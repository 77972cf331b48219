"""Builders for the placement tests (no tests here): each gives a valid default and takes only what a test changes.

Dates are counted back from TODAY, fixed once, so nothing is refused as dated in the future and a test
that runs over midnight sees the same days throughout."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from services.placement.application import Placements
from services.placement.domain import KnownCase, PlacementRules, Provider, Scheme
from services.placement.national_rules import supported_accommodation_in_force
from services.placement.projections.known_cases import CasesInMemory
from shared.contracts import EventContext
from shared.contracts.placement_vocabulary import PathwayStage, PlacementRoute, ProvisionType
from shared.contracts.vocabulary import Cohort, LegalStatus, Level
from shared.districts import DatedRules, District, DistrictRegister, DistrictRules
from shared.eventstore import IN_MEMORY_ENV

TODAY = datetime.now(UTC).date()
NOW = datetime.now(UTC)
OPENED_ON = TODAY - timedelta(days=400)
"""The night every built scheme opened: long enough ago for any stay a test needs."""


def days_ago(days: int, hour: int = 10) -> datetime:
    day = TODAY - timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def night(days_ago_: int) -> date:
    return TODAY - timedelta(days=days_ago_)


def a_known_case(**overrides: Any) -> KnownCase:
    """An open case of a 20-year-old care leaver (former relevant) in Preston, allocated a service by a panel."""
    fields: dict[str, Any] = {"case_id": uuid4(), "person_ref": uuid4(), "district": "preston",
                              "cohort": Cohort.care_leaver, "open": True, "allocated": True,
                              "legal_status": LegalStatus.former_relevant, "under_18": False}
    return KnownCase(**(fields | overrides))


def a_looked_after_16_17_case(**overrides: Any) -> KnownCase:
    """An open case of a 16-year-old looked after under section 20 in Preston, allocated a service by a panel."""
    return a_known_case(**({"cohort": Cohort.looked_after_16_17, "legal_status": LegalStatus.looked_after_section_20,
                            "under_18": True} | overrides))


NATIONAL = supported_accommodation_in_force()
"""The national Ofsted registration rule as shipped (services/placement/national_rules.toml)."""


def rules(*routes_needing_panel: PlacementRoute) -> PlacementRules:
    """A district's rules needing a panel for `routes_needing_panel` (none given: the panel route only)."""
    return PlacementRules(routes_needing_panel=frozenset(routes_needing_panel or {PlacementRoute.panel}),
                          supported_accommodation=NATIONAL)


def a_register(since: date | None = None, **routes_by_district: list[PlacementRoute]) -> DistrictRegister:
    """A district register of the districts named, each needing a panel for its routes from `since` on (before it:
    the panel route only); e.g. a_register(preston=[panel, placement_team], dover=[panel])."""
    since = since or date(2000, 1, 1)
    return DistrictRegister({code: District(code, code.title(), (DatedRules(since, DistrictRules(frozenset(routes))),))
                             for code, routes in routes_by_district.items()})


def a_provider(**overrides: Any) -> Provider:
    return Provider.register(**({"name": "Example Foyer Trust", "district": "preston", "occurred_at": days_ago(500),
                                 "now": NOW} | overrides))


def scheme_fields(**overrides: Any) -> dict[str, Any]:
    """A progression foyer in Preston with 2 units, medium support, no length-of-stay limit."""
    return {"name": "Riverside Foyer", "district": "preston", "provision_type": ProvisionType.foyer,
            "pathway_stage": PathwayStage.progression, "support_level": Level.medium,
            "support_hours_per_week": 10.0, "capacity_units": 2, "opened_on": OPENED_ON, "max_stay_days": None,
            "target_stay_days": None} | overrides


def a_scheme(provider: Provider | None = None, **overrides: Any) -> Scheme:
    return Scheme.register(provider=provider or a_provider(), occurred_at=days_ago(450), now=NOW,
                           **scheme_fields(**overrides))


EMERGENCY = {"name": "Night Shelter Beds", "provision_type": ProvisionType.emergency_assessment_bed,
             "pathway_stage": PathwayStage.assessment, "support_level": Level.high, "support_hours_per_week": 20.0}
BED_AND_BREAKFAST = {"name": "Station Hotel", "provision_type": ProvisionType.bed_and_breakfast,
                     "pathway_stage": PathwayStage.assessment, "support_level": Level.low,
                     "support_hours_per_week": 0.0, "capacity_units": 5}
CORE_24_7 = {"name": "Hilltop Core 24/7", "provision_type": ProvisionType.core_24_7,
             "pathway_stage": PathwayStage.specialist, "support_level": Level.high, "support_hours_per_week": 30.0}
SUPPORTED_LODGINGS = {"name": "Lodgings Scheme", "provision_type": ProvisionType.supported_lodgings,
                      "pathway_stage": PathwayStage.progression, "support_level": Level.low,
                      "support_hours_per_week": 4.0}
CLUSTER = {"name": "Cluster Flats", "provision_type": ProvisionType.cluster_unit,
           "pathway_stage": PathwayStage.move_on, "support_level": Level.low, "support_hours_per_week": 3.0}


def in_memory_placements(register: DistrictRegister | None = None) -> Placements:
    store = Placements(IN_MEMORY_ENV, register=register)
    assert isinstance(store.cases, CasesInMemory)
    return store


@dataclass
class Catalogue:
    """Registers a provider and schemes in a Placements store, and cases it knows of."""

    store: Placements
    context: EventContext = field(default_factory=lambda: EventContext(actor="test"))
    provider_id: UUID | None = None

    def provider(self) -> UUID:
        if self.provider_id is None:
            provider, _ = self.store.register_provider(self.context, name="Example Foyer Trust", district="preston",
                                                       occurred_at=days_ago(500))
            self.provider_id = provider.id
        return self.provider_id

    def scheme(self, **overrides: Any) -> UUID:
        scheme, _ = self.store.register_scheme(self.context, provider_id=self.provider(), occurred_at=days_ago(450),
                                               **scheme_fields(**overrides))
        return scheme.id

    def case(self, **overrides: Any) -> KnownCase:
        return self.store.cases.remember(a_known_case(**overrides))  # type: ignore[union-attr]
