"""The catalogue: providers, their schemes, capacity, occupancy night by night, and vacancies tonight.

Writes and reads of one scheme are plain `def` routes (the store is synchronous). The lists come from the
catalogue read model and take `after=<service>:<position>` (a position a write returned) to wait for it.
"""

from __future__ import annotations

import asyncio
from uuid import UUID

from fastapi import APIRouter

from services.placement import handlers
from services.placement.projections import placements as read_model
from shared.contracts.placement_vocabulary import PathwayStage, ProvisionType
from shared.contracts.vocabulary import Level

from . import views
from .deps import (
    Administering,
    AnyRole,
    CaughtUp,
    Context,
    District,
    NightRange,
    Runtime,
    SchemeKeeper,
    Store,
    Today,
    scheme_within_reach,
)
from .schemas import (
    AverageStays,
    CapacityChange,
    Changed,
    NewProvider,
    NewScheme,
    OccupancyView,
    OfstedRegistrationEnding,
    OfstedRegistrationRecord,
    ProviderWritten,
    SchemeView,
    SchemeWritten,
    StayLimitsChange,
    Vacancies,
)

router = APIRouter(tags=["catalogue"])


@router.post("/providers", status_code=201)
def register_provider(body: NewProvider, store: Store, runtime: Runtime, context: Context,
                      _: Administering) -> ProviderWritten:
    """Register a provider (ProviderRegistered)."""
    written = handlers.register_provider(store, context, handlers.RegisterProvider(**dict(body)))
    return ProviderWritten(provider_id=written.id, position=runtime.saved(written.position))


@router.get("/providers")
async def list_providers(runtime: Runtime, district: District, _: CaughtUp, caller: AnyRole) -> list[dict]:
    """The providers in the catalogue."""
    async with runtime.pool.acquire() as conn:
        rows = await read_model.providers(conn, district)
    return [{"provider_id": str(row["provider_id"]), "name": row["name"], "district": row["district"]}
            for row in rows]


@router.post("/schemes", status_code=201)
def register_scheme(body: NewScheme, store: Store, runtime: Runtime, context: Context,
                    _: Administering) -> SchemeWritten:
    """Register a scheme of a provider (SchemeRegistered)."""
    written = handlers.register_scheme(store, context, handlers.RegisterScheme(**dict(body)))
    return SchemeWritten(scheme_id=written.id, position=runtime.saved(written.position))


@router.post("/schemes/{scheme_id}/capacity")
def change_capacity(scheme_id: UUID, body: CapacityChange, store: Store, runtime: Runtime,
                    context: Context, caller: SchemeKeeper) -> Changed:
    """Change a scheme's capacity from a day on (SchemeCapacityChanged); never below the units let. A provider
    changes their own schemes' only."""
    scheme_within_reach(store, caller, scheme_id)
    written = handlers.change_capacity(store, context, handlers.ChangeCapacity(scheme_id=scheme_id, **dict(body)))
    return Changed(id=written.id, position=runtime.saved(written.position))


@router.post("/schemes/{scheme_id}/stay-limits")
def change_stay_limits(scheme_id: UUID, body: StayLimitsChange, store: Store, runtime: Runtime, context: Context,
                       _: Administering) -> Changed:
    """Change a scheme's maximum and target stays from a night on (SchemeStayLimitsChanged)."""
    written = handlers.change_stay_limits(store, context, handlers.ChangeStayLimits(scheme_id=scheme_id, **dict(body)))
    return Changed(id=written.id, position=runtime.saved(written.position))


@router.post("/schemes/{scheme_id}/ofsted-registrations")
def record_ofsted_registration(scheme_id: UUID, body: OfstedRegistrationRecord, store: Store, runtime: Runtime,
                               context: Context, _: Administering) -> Changed:
    """Record a scheme's registration with Ofsted as supported accommodation (SchemeOfstedRegistrationRecorded)."""
    written = handlers.record_ofsted_registration(
        store, context, handlers.RecordOfstedRegistration(scheme_id=scheme_id, **dict(body)))
    return Changed(id=written.id, position=runtime.saved(written.position))


@router.post("/schemes/{scheme_id}/ofsted-registrations/{registration_number}/ending")
def end_ofsted_registration(scheme_id: UUID, registration_number: str, body: OfstedRegistrationEnding, store: Store,
                            runtime: Runtime, context: Context, _: Administering) -> Changed:
    """End a scheme's Ofsted registration from a day on (SchemeOfstedRegistrationEnded)."""
    written = handlers.end_ofsted_registration(store, context, handlers.EndOfstedRegistration(
        scheme_id=scheme_id, registration_number=registration_number, **dict(body)))
    return Changed(id=written.id, position=runtime.saved(written.position))


@router.get("/average-stays")
async def get_average_stays(runtime: Runtime, today: Today, district: District, _: CaughtUp, caller: AnyRole,
                            scheme_id: UUID | None = None) -> AverageStays:
    """Each scheme's average stay against its target (by `district` of the scheme, or one `scheme_id`): one row
    per period of the scheme's stay limits, for the stays that began in it, completed and ongoing."""
    async with runtime.pool.acquire() as conn:
        rows = await read_model.average_stays(conn, today=today, scheme_district=district, scheme_id=scheme_id)
    return AverageStays(as_of=today, district=district, schemes=[views.average_stay(row) for row in rows])


@router.get("/schemes")
async def list_schemes(
    runtime: Runtime, district: District, _: CaughtUp, caller: AnyRole,
    pathway_stage: PathwayStage | None = None, support_level: Level | None = None,
    provision_type: ProvisionType | None = None,
) -> list[dict]:
    """The schemes in the catalogue, by district, pathway stage, support level and provision type."""
    async with runtime.pool.acquire() as conn:
        rows = await read_model.schemes_matching(conn, district=district, pathway_stage=pathway_stage,
                                                 support_level=support_level, provision_type=provision_type)
    return [views.catalogue_row(row) for row in rows]


@router.get("/schemes/{scheme_id}")
def get_scheme(scheme_id: UUID, store: Store, today: Today, caller: AnyRole) -> SchemeView:
    """A scheme and its units tonight."""
    return views.scheme_view(store.get_scheme(scheme_id), today)


@router.get("/schemes/{scheme_id}/occupancy")
def get_occupancy(scheme_id: UUID, store: Store, nights: NightRange, caller: AnyRole) -> OccupancyView:
    """Capacity, units let and voids for each night of a range (at most 366 nights)."""
    occupancy = store.get_scheme(scheme_id).occupancy(nights.first, nights.last)
    return views.occupancy_view(scheme_id, nights.first, nights.last, occupancy)


@router.get("/vacancies")
async def get_vacancies(
    runtime: Runtime, today: Today, district: District, _: CaughtUp, caller: AnyRole,
    pathway_stage: PathwayStage | None = None, support_level: Level | None = None,
    provision_type: ProvisionType | None = None,
) -> Vacancies:
    """Schemes with a unit free tonight, by district, pathway stage, support level and provision type.
    Which schemes match comes from the catalogue read model; their units from each scheme's latest
    snapshot and the events after it."""
    async with runtime.pool.acquire() as conn:
        rows = await read_model.schemes_matching(conn, district=district, pathway_stage=pathway_stage,
                                                 support_level=support_level, provision_type=provision_type)
    schemes = await asyncio.to_thread(runtime.store.schemes, [row["scheme_id"] for row in rows])
    schemes_view = [views.scheme_view(scheme, today) for scheme in schemes]
    return Vacancies(as_of=today, district=district,
                     schemes=[view for view in schemes_view if view.free_from_tonight > 0])
