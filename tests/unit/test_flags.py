"""Flags as dated facts: raised and ended on a case; safeguarding flags restricted (the Case aggregate's rules)."""

from uuid import uuid4

import pytest

from services.referral.domain import (
    CaseAlreadyClosed,
    DependantsOnlyForTeenageParent,
    EventDatedBeforeReferral,
    FlagAlreadyRaised,
    FlagChangeBeforeItWasRaised,
    FlagNotRaised,
    TeenageParentNeedsDependants,
)
from shared.contracts.referral import FlagEnded, FlagRaised, RestrictedFlagEnded, RestrictedFlagRaised
from shared.contracts.vocabulary import ClosureReason, Flag, SafeguardingFlag

from .builders import REFERRAL_DAY, a_case, at, days_after

NOW = at(days_after(REFERRAL_DAY, 100))


def on(days: int):
    return at(days_after(REFERRAL_DAY, days))


def a_referred_case(**overrides):
    case = a_case(**overrides)
    case.collect_events()
    return case


def test_a_flag_is_raised_from_a_day_and_ended_on_a_later_one():
    case = a_referred_case(flags=[])

    case.raise_flag(flag=Flag.youth_justice, occurred_at=on(3), now=NOW)
    case.end_flag(flag=Flag.youth_justice, occurred_at=on(30), now=NOW)

    raised, ended = case.collect_events()
    assert isinstance(raised, FlagRaised) and isinstance(ended, FlagEnded)
    assert (raised.flag, raised.occurred_at, ended.flag, ended.occurred_at) == (
        Flag.youth_justice, on(3), Flag.youth_justice, on(30))
    assert Flag.youth_justice not in case.flags


def test_flags_given_with_the_referral_are_raised_from_the_referral_and_can_end():
    case = a_referred_case(flags=[Flag.neet])

    case.end_flag(flag=Flag.neet, occurred_at=on(10), now=NOW)

    assert Flag.neet not in case.flags


def test_a_teenage_parent_flag_says_how_many_dependants_and_is_raised_again_when_that_changes():
    case = a_referred_case(flags=[])
    with pytest.raises(TeenageParentNeedsDependants):
        case.raise_flag(flag=Flag.teenage_parent, occurred_at=on(1), now=NOW)

    case.raise_flag(flag=Flag.teenage_parent, dependants=1, occurred_at=on(1), now=NOW)
    case.raise_flag(flag=Flag.teenage_parent, dependants=2, occurred_at=on(50), now=NOW)

    assert [e.dependants for e in case.collect_events()] == [1, 2]
    assert (case.flags[Flag.teenage_parent].dependants, case.flags[Flag.teenage_parent].since) == (2, on(1))


def test_only_a_teenage_parent_flag_has_dependants():
    with pytest.raises(DependantsOnlyForTeenageParent):
        a_referred_case().raise_flag(flag=Flag.mental_health, dependants=1, occurred_at=on(1), now=NOW)


def test_a_flag_already_raised_is_not_raised_again_and_one_not_raised_does_not_end():
    case = a_referred_case(flags=[Flag.neet])

    with pytest.raises(FlagAlreadyRaised):
        case.raise_flag(flag=Flag.neet, occurred_at=on(2), now=NOW)
    with pytest.raises(FlagNotRaised):
        case.end_flag(flag=Flag.in_work, occurred_at=on(2), now=NOW)


def test_a_flag_ends_after_it_was_raised_and_nothing_is_dated_before_the_referral():
    case = a_referred_case(flags=[])
    case.raise_flag(flag=Flag.substance_misuse, occurred_at=on(10), now=NOW)

    with pytest.raises(FlagChangeBeforeItWasRaised):
        case.end_flag(flag=Flag.substance_misuse, occurred_at=on(5), now=NOW)
    with pytest.raises(EventDatedBeforeReferral):
        case.raise_flag(flag=Flag.rural, occurred_at=on(-1), now=NOW)


def test_no_flag_changes_on_a_closed_case():
    case = a_referred_case()
    case.close(reason=ClosureReason.moved_on, occurred_at=on(3), now=NOW)

    with pytest.raises(CaseAlreadyClosed):
        case.raise_flag(flag=Flag.rural, occurred_at=on(4), now=NOW)


def test_a_safeguarding_flag_is_published_by_id_only():
    case = a_referred_case()

    flag_id = case.raise_restricted_flag(flag=SafeguardingFlag.exploitation, raised_now=set(), occurred_at=on(2),
                                         now=NOW)
    case.end_restricted_flag(flag_id=flag_id, occurred_at=on(9), now=NOW)

    raised, ended = case.collect_events()
    assert isinstance(raised, RestrictedFlagRaised) and isinstance(ended, RestrictedFlagEnded)
    assert raised.flag_id == ended.flag_id == flag_id
    assert "exploitation" not in raised.model_dump_json() + ended.model_dump_json()


def test_a_safeguarding_flag_raised_now_is_not_raised_again_and_an_unknown_one_does_not_end():
    case = a_referred_case()

    with pytest.raises(FlagAlreadyRaised):
        case.raise_restricted_flag(flag=SafeguardingFlag.marac, raised_now={SafeguardingFlag.marac},
                                   occurred_at=on(2), now=NOW)
    with pytest.raises(FlagNotRaised):
        case.end_restricted_flag(flag_id=uuid4(), occurred_at=on(2), now=NOW)
