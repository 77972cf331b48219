"""Turning aggregates and read-model rows into the placement API's responses."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date
from typing import Any
from uuid import UUID

from services.placement.domain import FloatingSupportEpisode, Occupancy, Placement, Scheme
from shared.contracts.placement import PlacementBrokeDown, PlacementEnded

from .schemas import (
    AverageStay,
    AwaitingCase,
    DestinationsNotKnown,
    Ending,
    FloatingSupportEndingView,
    FloatingSupportView,
    KnownCaseView,
    NightView,
    OccupancyView,
    OfstedRegistrationView,
    OpenEpisode,
    PlacementView,
    SchemeDestinationsNotKnown,
    SchemeSupporting,
    SchemeView,
    StayLimitsView,
    StayOverLimit,
    StayView,
)


def scheme_view(scheme: Scheme, tonight: date) -> SchemeView:
    limits = scheme.limits_on(tonight)
    return SchemeView(
        scheme_id=scheme.id, provider_id=scheme.provider_id, name=scheme.name, district=scheme.district,
        provision_type=scheme.provision_type, pathway_stage=scheme.pathway_stage, support_level=scheme.support_level,
        support_hours_per_week=scheme.support_hours_per_week, opened_on=scheme.opened_on,
        max_stay_days=limits.max_stay_days, target_stay_days=limits.target_stay_days,
        stay_limits=[StayLimitsView(effective_from=x.effective_from, max_stay_days=x.max_stay_days,
                                    target_stay_days=x.target_stay_days) for x in scheme.stay_limits],
        ofsted_registrations=[OfstedRegistrationView(registration_number=r.number, registered_from=r.registered_from,
                                                     registered_until=r.registered_until)
                              for r in scheme.ofsted_registrations],
        registered_with_ofsted_tonight=scheme.registration_on(tonight) is not None,
        capacity=scheme.capacity_on(tonight), let=scheme.occupied_on(tonight), vacant=scheme.vacant_on(tonight),
        free_from_tonight=scheme.free_from(tonight))


def occupancy_view(scheme_id: UUID, first_night: date, last_night: date, occupancy: Occupancy) -> OccupancyView:
    return OccupancyView(
        scheme_id=scheme_id, first_night=first_night, last_night=last_night, unit_nights=occupancy.unit_nights,
        let_unit_nights=occupancy.let_unit_nights, void_unit_nights=occupancy.void_unit_nights,
        utilisation_percent=occupancy.utilisation_percent,
        nights=[NightView(night=n.night, capacity=n.capacity, let=n.occupied, void=n.void) for n in occupancy])


def placement_view(placement: Placement, today: date) -> PlacementView:
    until = placement.last_day(today)
    ending = placement.ending
    return PlacementView(
        placement_id=placement.id, placement_number=placement.number, case_id=placement.case_id,
        person_ref=placement.person_ref, district=placement.district, cohort=placement.cohort,
        status=placement.status, route=placement.route, started_at=placement.started_at,
        scheme_id=placement.scheme_id,
        provision_type=placement.provision_type, pathway_stage=placement.pathway_stage,
        support_level=placement.support_level, stay_started_at=placement.stay_started_at,
        days_in_scheme=placement.days_in_scheme(until), days_in_placement=placement.days_in_placement(until),
        ended_at=placement.ended_at,
        ending=None if ending is None else Ending(
            kind=placement.status, planned=isinstance(ending, PlacementEnded) and ending.planned,
            destination=ending.destination, reason=ending.reason if isinstance(ending, PlacementBrokeDown) else None),
        stays=[StayView(scheme_id=s.scheme_id, provision_type=s.provision_type, from_night=s.from_night,
                        until=s.until) for s in placement.stays],
        bed_and_breakfast_nights=len(placement.bed_and_breakfast_nights), version=placement.version)


def stay_over_limit(row: Mapping[str, Any]) -> StayOverLimit:
    return StayOverLimit(**row, days_over=row["days_in_scheme"] - row["max_stay_days"])


def average_stay(row: Mapping[str, Any]) -> AverageStay:
    completed, target = row["average_completed_days"], row["target_stay_days"]
    over = None if completed is None or target is None else completed > target
    return AverageStay(**row, average_over_target=over)


def awaiting_case(row: Mapping[str, Any], today: date) -> AwaitingCase:
    return AwaitingCase(**{k: v for k, v in row.items() if k != "current_scheme_id"},
                        days_waiting=(today - row["allocated_at"].astimezone(UTC).date()).days)


def known_case_view(row: Mapping[str, Any]) -> KnownCaseView:
    return KnownCaseView(case_id=row["case_id"], person_ref=row["person_ref"], district=row["district"],
                         cohort=row["cohort"], status=row["status"], last_panel_decision=row["last_panel_decision"],
                         allocated=row["allocated_at"] is not None, legal_status=row["legal_status"],
                         under_18=row["under_18"])


def catalogue_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A catalogue read-model row as JSON values, without its bookkeeping."""
    return {key: (str(value) if isinstance(value, UUID) else value) for key, value in row.items()
            if key != "last_sequence"}


# -- floating support


def floating_support_view(episode: FloatingSupportEpisode, today: date) -> FloatingSupportView:
    ending = episode.ending
    return FloatingSupportView(
        episode_id=episode.id, episode_number=episode.number, case_id=episode.case_id, person_ref=episode.person_ref,
        district=episode.district, cohort=episode.cohort, status=episode.status, scheme_id=episode.scheme_id,
        provider_id=episode.provider_id, started_at=episode.started_at, in_placement_id=episode.in_placement_id,
        days_supported=episode.days_supported(today), ended_at=episode.ended_at,
        ending=None if ending is None else FloatingSupportEndingView(
            planned=ending.planned, destination=ending.destination, hours_delivered=ending.hours_delivered),
        version=episode.version)


def schemes_supporting(rows: list[Mapping[str, Any]], today: date) -> list[SchemeSupporting]:
    schemes: dict[UUID, SchemeSupporting] = {}
    for row in rows:
        scheme = schemes.setdefault(row["scheme_id"], SchemeSupporting(
            scheme_id=row["scheme_id"], scheme_name=row["scheme_name"], scheme_district=row["scheme_district"],
            capacity_units=row["scheme_capacity_units"], episodes=[]))
        scheme.episodes.append(OpenEpisode(
            episode_id=row["episode_id"], case_id=row["case_id"], person_ref=row["person_ref"],
            district=row["district"], started_at=row["started_at"], in_placement_id=row["in_placement_id"],
            days_supported=(today - row["started_at"].astimezone(UTC).date()).days))
    return list(schemes.values())


def destinations_not_known(rows: list[Mapping[str, Any]], *, district: str | None, first_day: date | None,
                           last_day: date | None) -> DestinationsNotKnown:
    departures = sum(row["departures"] for row in rows)
    not_known = sum(row["destination_not_known"] for row in rows)
    return DestinationsNotKnown(
        district=district, first_day=first_day, last_day=last_day, departures=departures,
        destination_not_known=not_known,
        percent_not_known=round(100 * not_known / departures, 1) if departures else None,
        schemes=[SchemeDestinationsNotKnown(
            **row, percent_not_known=round(100 * row["destination_not_known"] / row["departures"], 1))
            for row in rows])
