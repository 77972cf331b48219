"""The closed vocabularies events use (see ../shared/DOMAIN.md): districts, gateways, cohorts, flags."""

from collections.abc import Iterator, Mapping
from datetime import date
from enum import StrEnum


class _RegisteredDistricts(Mapping[str, str]):
    """Every district code the register in force has ever had (retired ones included), and its name: a view of
    `shared.districts.district_register()`, which is data (a TOML file), not code."""

    @staticmethod
    def _districts() -> dict:
        from shared.districts import district_register

        return district_register().districts

    def __getitem__(self, code: str) -> str:
        return self._districts()[code].name

    def __iter__(self) -> Iterator[str]:
        return iter(self._districts())

    def __len__(self) -> int:
        return len(self._districts())

    def __contains__(self, code: object) -> bool:
        return code in self._districts()


DISTRICTS: Mapping[str, str] = _RegisteredDistricts()
"""District codes (the token used in NATS subjects) and their names: every code the district register has ever had,
so that events recorded under a retired code stay valid."""


class UnknownDistrict(ValueError):
    """The district code is not one of casetrack's district housing authorities."""


class DistrictNotInForce(ValueError):
    """The district is known, but not in force on the day: a new fact names the district in force then."""


def known_district(code: str) -> str:
    """`code` if the district register has ever had it (a retired code included); UnknownDistrict if not."""
    from shared.districts import district_register

    return district_register().known(code)


def district_in_force(code: str, on: date) -> str:
    """`code` if it is a district in force on `on` (what a new fact must name); UnknownDistrict if the register
    never had it, DistrictNotInForce naming its successor if it had ended (or not begun)."""
    from shared.districts import district_register

    return district_register().in_force(code, on).code


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
    """Who the young person is to the system on a day; always consistent with their age and legal status that
    day (a cohort changes over time: see LegalStatusChanged and AgeReached)."""

    homeless_16_17 = "homeless_16_17"
    looked_after_16_17 = "looked_after_16_17"
    care_leaver = "care_leaver"
    """Eligible and relevant children aged 16/17, former relevant young people 18-25 [000 slide 22]."""
    young_person_at_risk = "young_person_at_risk"
    """16-25 with support needs and no care history (Kent's young people at risk and teenage parents)."""

    @property
    def ages(self) -> range:
        return range(16, 18) if self in (Cohort.homeless_16_17, Cohort.looked_after_16_17) else range(16, 26)


class LegalStatus(StrEnum):
    """The young person's legal status on a day (Children Act 1989, Children (Leaving Care) Act 2000):
    a dated fact that changes over time, never fixed at referral."""

    not_looked_after = "not_looked_after"
    """Not in care and never looked after long enough to be a care leaver (e.g. a homeless 16/17 year old
    before or without a section 20 assessment, or a young person at risk)."""
    child_in_need = "child_in_need"
    """Helped under section 17 (e.g. emergency accommodation for a 16/17 year old who is not looked after)."""
    looked_after_section_20 = "looked_after_section_20"
    """Accommodated under section 20 (e.g. after a Southwark assessment)."""
    looked_after_care_order = "looked_after_care_order"
    """Looked after under a care order (section 31)."""
    eligible = "eligible"
    """A looked-after 16/17 year old who has been looked after for 13 weeks since the age of 14."""
    relevant = "relevant"
    """A 16/17 year old who was eligible and has left care."""
    former_relevant = "former_relevant"
    """18 or over, and was eligible or relevant: a care leaver until 21 (25 with a personal adviser)."""
    qualifying = "qualifying"
    """18 or over, looked after at 16 or later but not eligible."""

    @property
    def ages(self) -> range:
        if self in (LegalStatus.former_relevant, LegalStatus.qualifying):
            return range(18, 26)
        if self in (LegalStatus.not_looked_after,):
            return range(16, 26)
        return range(16, 18)

    @property
    def cohorts(self) -> tuple[Cohort, ...]:
        """The cohorts a young person with this status can be in."""
        return {
            LegalStatus.not_looked_after: (Cohort.homeless_16_17, Cohort.young_person_at_risk),
            LegalStatus.child_in_need: (Cohort.homeless_16_17, Cohort.young_person_at_risk),
            LegalStatus.looked_after_section_20: (Cohort.looked_after_16_17,),
            LegalStatus.looked_after_care_order: (Cohort.looked_after_16_17,),
            LegalStatus.eligible: (Cohort.care_leaver, Cohort.looked_after_16_17),
            LegalStatus.relevant: (Cohort.care_leaver,),
            LegalStatus.former_relevant: (Cohort.care_leaver,),
            LegalStatus.qualifying: (Cohort.care_leaver,),
        }[self]

    @property
    def looked_after(self) -> bool:
        return self in (LegalStatus.looked_after_section_20, LegalStatus.looked_after_care_order, LegalStatus.eligible)

    @property
    def care_leaving(self) -> bool:
        return self in (LegalStatus.eligible, LegalStatus.relevant, LegalStatus.former_relevant,
                        LegalStatus.qualifying)


class StatusChangeReason(StrEnum):
    """Why a young person's legal status changed."""

    southwark_assessment = "southwark_assessment"
    """Assessed as a child in need under the Southwark judgment and accommodated under section 20."""
    accommodated_section_20 = "accommodated_section_20"
    care_order_made = "care_order_made"
    became_eligible = "became_eligible"
    """13 weeks looked after since 14, and now 16 or 17."""
    left_care = "left_care"
    turned_18 = "turned_18"
    returned_home = "returned_home"
    corrected = "corrected"
    """The status recorded before was wrong: this one replaces it from the day given."""


class SafeguardingFlag(StrEnum):
    """Restricted safeguarding facts: kept in the referral service only, shown elsewhere as "restricted",
    never in analyst outputs."""

    exploitation = "exploitation"
    missing_episodes = "missing_episodes"
    marac = "marac"
    mappa = "mappa"
    risk_to_others = "risk_to_others"


class Duty(StrEnum):
    """The homelessness duties of the Housing Act 1996 as amended by the Homelessness Reduction Act 2017."""

    prevention = "prevention"
    """s195: homelessness threatened within 56 days; may continue past 56 days."""
    relief = "relief"
    """s189B: homeless; ends after 56 days, when a main duty decision is due."""
    main = "main"
    """s193: the main housing duty."""


class DutyEndReason(StrEnum):
    """Why a homelessness duty ended (s195(8), s189B(7), s193)."""

    accommodation_secured = "accommodation_secured"
    """Suitable accommodation available for at least 6 months."""
    became_homeless = "became_homeless"
    """Prevention ended: the relief duty follows."""
    relief_period_ended = "relief_period_ended"
    """56 days of relief passed: a main duty decision is due."""
    main_duty_accepted = "main_duty_accepted"
    main_duty_not_owed = "main_duty_not_owed"
    refused_suitable_offer = "refused_suitable_offer"
    intentionally_homeless = "intentionally_homeless"
    no_longer_eligible = "no_longer_eligible"
    lost_contact = "lost_contact"
    withdrew_application = "withdrew_application"
    refused_to_cooperate = "refused_to_cooperate"
    accommodated_by_childrens_services = "accommodated_by_childrens_services"
    other = "other"


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
