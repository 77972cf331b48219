"""The closed vocabularies of placements (see ../shared/DOMAIN.md "The journey" stages 5-6): provision
types, pathway stages, moves, breakdown reasons and departure destinations."""

from enum import StrEnum


class ProvisionType(StrEnum):
    """What kind of accommodation or support a scheme provides."""

    emergency_assessment_bed = "emergency_assessment_bed"
    foyer = "foyer"
    young_peoples_supported_accommodation = "young_peoples_supported_accommodation"
    core_24_7 = "core_24_7"
    """Core 24/7 building-based accommodation, staffed around the clock."""
    cluster_unit = "cluster_unit"
    supported_lodgings = "supported_lodgings"
    nightstop = "nightstop"
    teenage_parent_service = "teenage_parent_service"
    visiting_floating_support = "visiting_floating_support"
    """Stored events only (schema 1): upcast to visiting_support. Not accepted in new requests."""
    visiting_support = "visiting_support"
    """Accommodation-based visiting support (Lancashire's): support visits to the young person's unit."""
    floating_support = "floating_support"
    """Support attached to the person, not a building [004]: a floating support episode, never a placement."""
    private_rented_with_support = "private_rented_with_support"
    social_tenancy = "social_tenancy"
    bed_and_breakfast = "bed_and_breakfast"
    """Unsuitable for 16/17 year olds: every night of it is counted."""
    all_ages_hostel = "all_ages_hostel"
    regulated_childrens_placement = "regulated_childrens_placement"
    """Fostering or a children's home: regulated provision for looked-after young people."""


class PathwayStage(StrEnum):
    """The four components of an accommodation pathway [000 slide 35]."""

    assessment = "assessment"
    """Assessment / emergency: short stay with emergency access so that B&B is not used."""
    progression = "progression"
    specialist = "specialist"
    move_on = "move_on"


class PlacementRoute(StrEnum):
    """Who made a placement [000 slides 35, 43]; whether a route needs a prior panel decision is a district's
    own dated rule (see shared/districts.py), not code."""

    panel = "panel"
    placement_team = "placement_team"
    pathway_plan = "pathway_plan"
    """A care leaver's planned move under their pathway plan."""
    emergency = "emergency"
    """Between panels, reported to the next panel."""
    children_services = "children_services"
    """Fostering, supported lodgings and other arrangements made by children's services."""


class MoveReason(StrEnum):
    """Why an unplanned move happened."""

    needs_increased = "needs_increased"
    needs_decreased = "needs_decreased"
    risk_to_self = "risk_to_self"
    risk_to_others = "risk_to_others"
    safeguarding = "safeguarding"
    conflict_with_residents = "conflict_with_residents"
    notice_given_by_provider = "notice_given_by_provider"
    young_person_asked = "young_person_asked"
    scheme_closed = "scheme_closed"
    other = "other"


class MoveDirection(StrEnum):
    """Which way a move goes along the pathway."""

    step_up = "step_up"
    """To more intensive support."""
    step_down = "step_down"
    """Towards independence: less support."""
    lateral = "lateral"
    """To a different scheme at about the same support."""


class Destination(StrEnum):
    """Where a young person went when their placement or floating support ended: one taxonomy for every
    departure, planned or not. It covers every row of Kent's destination tables [004 Appendix 3] (see
    KENT_SHORT_TERM_ROWS)."""

    friends_or_family = "friends_or_family"
    previous_home = "previous_home"
    short_term_supported_housing = "short_term_supported_housing"
    long_term_supported_housing = "long_term_supported_housing"
    supported_lodgings = "supported_lodgings"
    private_rented = "private_rented"
    social_rented = "social_rented"
    sheltered_housing = "sheltered_housing"
    bed_and_breakfast = "bed_and_breakfast"
    regulated_childrens_placement = "regulated_childrens_placement"
    custody = "custody"
    hospital_or_care_home = "hospital_or_care_home"
    """Hospital, hospice, care or nursing home."""
    sleeping_rough = "sleeping_rough"
    abandoned = "abandoned"
    died = "died"
    remained_in_own_home = "remained_in_own_home"
    """Floating support ended and the young person stayed in their own home."""
    other = "other"
    not_known = "not_known"
    """Where they went is not known: counted as a data-quality measure, never hidden in `other`."""
    other_or_not_known = "other_or_not_known"
    """Stored events only (schema 1): upcast to not_known. Not accepted in new requests."""

    @property
    def can_be_planned(self) -> bool:
        """Nobody plans a move-on to the street, to nowhere known, or to death."""
        return self not in (Destination.sleeping_rough, Destination.abandoned, Destination.died,
                            Destination.not_known, Destination.other_or_not_known)


RETIRED_PROVISION_TYPES = frozenset({ProvisionType.visiting_floating_support})
"""Provision types only stored events carry (read through their upcasters): no new request may use them."""
RETIRED_DESTINATIONS = frozenset({Destination.other_or_not_known})
"""Destinations only stored events carry (read through their upcasters): no new request may use them."""


KENT_SHORT_TERM_ROWS: dict[tuple[bool, Destination], str] = {
    (True, Destination.friends_or_family): "Planned - Staying with friends/family",
    (True, Destination.short_term_supported_housing): "Planned - Supported Housing",
    (True, Destination.long_term_supported_housing): "Planned - Supported Housing",
    (True, Destination.supported_lodgings): "Planned - Supported Housing",
    (True, Destination.private_rented): "Planned - Rented private",
    (True, Destination.social_rented): "Planned - Social Rented",
    (True, Destination.previous_home): "Planned - Previous Home",
    (True, Destination.custody): "Planned - Prison",
    (True, Destination.sheltered_housing): "Planned - Sheltered Housing",
    (True, Destination.bed_and_breakfast): "Planned - B&B",
    (False, Destination.abandoned): "Other/Abandoned",
    (False, Destination.other): "Other/Abandoned",
    (False, Destination.not_known): "Other/Abandoned",
    (False, Destination.custody): "Taken into custody",
    (False, Destination.friends_or_family): "Staying with friends/family",
    (False, Destination.sleeping_rough): "Sleeping Rough",
    (False, Destination.died): "Died",
    (False, Destination.hospital_or_care_home): "Hospice/Hospital/Care home",
    (False, Destination.bed_and_breakfast): "Unplanned - B&B",
    (False, Destination.short_term_supported_housing): "Unplanned - Supported Housing",
    (False, Destination.long_term_supported_housing): "Unplanned - Supported Housing",
    (False, Destination.supported_lodgings): "Unplanned - Supported Housing",
    (False, Destination.private_rented): "Unplanned - Rented",
    (False, Destination.social_rented): "Unplanned - Rented",
    (False, Destination.previous_home): "Unplanned - Home",
    (True, Destination.remained_in_own_home): "Planned - Previous Home",
    (False, Destination.remained_in_own_home): "Unplanned - Home",
}
"""(planned, destination) -> the row of Kent's short-term (KPI2) destination table it is counted in.
Departures with no row there (e.g. a planned move to a regulated children's placement) are not in it. Kent's
"Other/Abandoned" row holds other and not_known alike (the data-quality count keeps not_known apart); a floating
support episode ending with the young person in their own home is counted in Kent's home rows."""


class BreakdownReason(StrEnum):
    """Why a placement broke down (an unplanned end)."""

    evicted_by_provider = "evicted_by_provider"
    notice_given_by_provider = "notice_given_by_provider"
    abandonment = "abandonment"
    custody = "custody"
    hospital = "hospital"
    safeguarding = "safeguarding"
    young_person_left = "young_person_left"

    @property
    def usual_destination(self) -> Destination:
        """Where the young person went, when the report of a breakdown does not say."""
        return {
            BreakdownReason.abandonment: Destination.abandoned,
            BreakdownReason.custody: Destination.custody,
            BreakdownReason.hospital: Destination.hospital_or_care_home,
        }.get(self, Destination.not_known)
