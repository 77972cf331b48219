"""The closed vocabularies events use (see ../shared/DOMAIN.md): districts, gateways, cohorts, flags."""

from enum import StrEnum

DISTRICTS: dict[str, str] = {
    # Lancashire's 12 district housing authorities
    "burnley": "Burnley", "chorley": "Chorley", "fylde": "Fylde", "hyndburn": "Hyndburn",
    "lancaster": "Lancaster", "pendle": "Pendle", "preston": "Preston", "ribble-valley": "Ribble Valley",
    "rossendale": "Rossendale", "south-ribble": "South Ribble", "west-lancashire": "West Lancashire",
    "wyre": "Wyre",
    # Kent's 12 (East and West Kent)
    "ashford": "Ashford", "canterbury": "Canterbury", "dartford": "Dartford", "dover": "Dover",
    "folkestone-hythe": "Folkestone and Hythe", "gravesham": "Gravesham", "maidstone": "Maidstone",
    "sevenoaks": "Sevenoaks", "swale": "Swale", "thanet": "Thanet", "tonbridge-malling": "Tonbridge and Malling",
    "tunbridge-wells": "Tunbridge Wells",
    # Somerset's 5
    "mendip": "Mendip", "sedgemoor": "Sedgemoor", "south-somerset": "South Somerset",
    "taunton-deane": "Taunton Deane", "west-somerset": "West Somerset",
}
"""District codes (the token used in NATS subjects) and their names."""


class UnknownDistrict(ValueError):
    """The district code is not one of casetrack's district housing authorities."""


def known_district(code: str) -> str:
    if code not in DISTRICTS:
        raise UnknownDistrict(f"unknown district; known districts: {', '.join(sorted(DISTRICTS))}")
    return code


class Gateway(StrEnum):
    """The front door through which a young person presented."""

    district_housing_options = "district_housing_options"
    childrens_services = "childrens_services"
    hub = "hub"
    self_referral = "self_referral"
    provider = "provider"
    youth_offending_team = "youth_offending_team"
    probation = "probation"
    leaving_care_team = "leaving_care_team"
    multi_agency = "multi_agency"  # MARAC / MAPPA routes


class Cohort(StrEnum):
    """Who the young person is to the system; always consistent with their age at the event."""

    homeless_16_17 = "homeless_16_17"
    looked_after_16_17 = "looked_after_16_17"
    care_leaver = "care_leaver"
    young_person_at_risk = "young_person_at_risk"

    @property
    def ages(self) -> range:
        return range(16, 18) if self in (Cohort.homeless_16_17, Cohort.looked_after_16_17) else range(18, 26)


class Flag(StrEnum):
    """Cross-cutting needs and circumstances that shape a pathway."""

    uasc = "uasc"
    teenage_parent = "teenage_parent"
    youth_justice = "youth_justice"
    mental_health = "mental_health"
    learning_disability = "learning_disability"
    substance_misuse = "substance_misuse"
    domestic_abuse = "domestic_abuse"
    neet = "neet"
    in_education = "in_education"
    in_work = "in_work"
    rural = "rural"


class PresentingReason(StrEnum):
    """Why the young person presented (a category, never free text: free text can carry names)."""

    family_breakdown = "family_breakdown"
    parental_eviction = "parental_eviction"
    relationship_breakdown = "relationship_breakdown"
    domestic_abuse = "domestic_abuse"
    leaving_care = "leaving_care"
    leaving_custody = "leaving_custody"
    placement_breakdown = "placement_breakdown"
    loss_of_tenancy = "loss_of_tenancy"
    rough_sleeping = "rough_sleeping"
    overcrowding = "overcrowding"
    other = "other"


class MediationOutcome(StrEnum):
    """How a family mediation attempt ended."""

    returned_home = "returned_home"
    stayed_with_wider_family_or_friends = "stayed_with_wider_family_or_friends"
    not_possible = "not_possible"


class Level(StrEnum):
    """High, medium or low: of support needed, or of risk."""

    high = "high"
    medium = "medium"
    low = "low"


class PriorityBand(StrEnum):
    """Housing priority band (Band A: under 18, threat of eviction, domestic abuse, rough sleeping, ...)."""

    a = "A"
    b = "B"
    c = "C"
    d = "D"


class SupportNeed(StrEnum):
    """Needs found by the shared assessment ("tell it once")."""

    independent_living_skills = "independent_living_skills"
    managing_money = "managing_money"
    mental_health = "mental_health"
    physical_health = "physical_health"
    substance_misuse = "substance_misuse"
    offending = "offending"
    education_training_employment = "education_training_employment"
    family_relationships = "family_relationships"
    parenting = "parenting"
    domestic_abuse = "domestic_abuse"
    sexual_exploitation = "sexual_exploitation"


class PanelDecision(StrEnum):
    """What the multi-agency panel decided for a case."""

    allocate_service = "allocate_service"
    refer_elsewhere = "refer_elsewhere"
    return_home_with_support = "return_home_with_support"
    defer = "defer"


class ClosureReason(StrEnum):
    """Why a case was closed."""

    returned_home = "returned_home"
    moved_on = "moved_on"
    referred_elsewhere = "referred_elsewhere"
    not_eligible = "not_eligible"
    disengaged = "disengaged"
    duty_ended = "duty_ended"
    other = "other"


class MatchedDetail(StrEnum):
    """An identifying detail two referrals share (which details matched, never their values)."""

    given_name = "given_name"
    family_name = "family_name"
    date_of_birth = "date_of_birth"


class LinkBasis(StrEnum):
    """Why a case's young person was linked to a person already known."""

    matching_details = "matching_details"
    """Given name, family name and date of birth all match one known person: linked automatically."""
    case_worker_decision = "case_worker_decision"
