"""The finance service's arithmetic (services/finance/costing.py), in exact pence: accruals per stay per month at
each night's price and funding, block contracts and their voids, payment by results, unfunded nights, floating
support paid by the hour, what is committed to the year end, and the unit cost per week."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any
from uuid import uuid4

import pytest

from services.finance.costing import (
    Accrual,
    Contract,
    DatedFunding,
    DatedPackage,
    Stay,
    accrue,
    block_cost,
    committed,
    contract_covering,
    split,
    unit_cost_per_week,
)
from shared.contracts.finance import (
    CostPart,
    FundingShare,
    FundingStream,
    Package,
    PaymentByResults,
    PriceBasis,
    Procurement,
)
from shared.contracts.outcomes import Outcome, ServiceType

SCHEME = uuid4()
APRIL_1, APRIL_30 = date(2024, 4, 1), date(2024, 4, 30)
LEAVING_CARE = (FundingShare(stream=FundingStream.leaving_care, share=10_000),)


def a_package(rent: int = 7000, service_charge: int = 1400, support: int = 2100) -> Package:
    """1,000 + 200 + 300 pence a night unless told."""
    return Package(rent=rent, service_charge=service_charge, support=support)


def a_contract(*, package: Package | None = None, prices: tuple[DatedPackage, ...] = (),
               funding: tuple[FundingShare, ...] = LEAVING_CARE, **overrides: Any) -> Contract:
    """A spot contract for SCHEME from 1 January 2024, open-ended, funded by leaving care."""
    fields: dict[str, Any] = {
        "contract_id": uuid4(), "provider_id": uuid4(), "name": "Spot beds", "procurement": Procurement.spot,
        "service_type": ServiceType.short_term, "scheme_ids": frozenset({SCHEME}), "starts_on": date(2024, 1, 1),
        "ends_on": None, "contracted_units": None, "basis": PriceBasis.per_unit_week, "payment_by_results": None}
    fields |= overrides
    fields["prices"] = prices or (DatedPackage(fields["starts_on"], package or a_package()),)
    fields["funding"] = (DatedFunding(fields["starts_on"], funding),)
    return Contract(**fields)


def a_block(units: int = 10, **overrides: Any) -> Contract:
    return a_contract(**({"name": "Block beds", "procurement": Procurement.block_gross, "contracted_units": units}
                         | overrides))


def a_stay(first_night: date = APRIL_1, until: date | None = None, **overrides: Any) -> Stay:
    """A placement in SCHEME from 1 April 2024, still open unless told."""
    fields: dict[str, Any] = {"stay_id": uuid4(), "case_id": uuid4(), "person_ref": uuid4(), "district": "preston",
                              "placement_id": uuid4(), "scheme_id": SCHEME, "first_night": first_night,
                              "until": until, "kind": "placement"}
    return Stay(**(fields | overrides))


def only(accruals: list[Accrual]) -> Accrual:
    assert len(accruals) == 1, accruals
    return accruals[0]


def test_a_price_change_mid_month_costs_each_night_at_the_price_in_force_that_night() -> None:
    uplift = a_package(rent=8400, service_charge=1400, support=2800)  # 1,200 + 200 + 400 a night
    contract = a_contract(prices=(DatedPackage(date(2024, 1, 1), a_package()), DatedPackage(date(2024, 4, 16), uplift)))

    accrual = only(accrue([a_stay()], [contract], APRIL_1, APRIL_30))

    assert accrual.days == 30 and accrual.month == APRIL_1 and accrual.contract_id == contract.contract_id
    assert accrual.cost == CostPart(rent=15 * 1000 + 15 * 1200, service_charge=30 * 200, support=15 * 300 + 15 * 400,
                                    by_stream={FundingStream.leaving_care: 49_500})
    assert accrual.cost.whole == 49_500


def test_each_part_is_rounded_half_up_once_per_accrual_not_per_night() -> None:
    contract = a_contract(package=a_package(rent=7001, service_charge=0, support=3))  # 1000.142.. and 0.428.. a night

    accrual = only(accrue([a_stay(until=date(2024, 4, 8))], [contract], APRIL_1, APRIL_30))

    assert (accrual.days, accrual.cost.rent, accrual.cost.support) == (7, 7001, 3)


def test_a_block_costs_the_same_empty_or_full_and_a_spot_costs_nothing_empty() -> None:
    block = a_block(units=10)
    spot = a_contract()

    empty, full = block_cost(block, APRIL_1, APRIL_30, 0), block_cost(block, APRIL_1, APRIL_30, 300)

    assert empty.contract_value == full.contract_value == 10 * 30 * 1500
    assert accrue([], [spot], APRIL_1, APRIL_30) == []
    assert committed([], [spot], APRIL_1, APRIL_30) == 0
    assert only(accrue([a_stay()], [spot], APRIL_1, APRIL_30)).cost.whole == 30 * 1500


def test_voids_are_the_paid_for_unit_days_not_occupied_and_cost_their_share_of_the_block() -> None:
    block = a_block(units=10, package=a_package(rent=7001, service_charge=0, support=0))  # 1000.142.. a unit-day

    cost = block_cost(block, APRIL_1, APRIL_30, occupied_unit_days=240)

    assert (cost.contracted_unit_days, cost.occupied_unit_days, cost.void_unit_days) == (300, 240, 60)
    assert cost.contract_value == 300_043  # 300 x 7,001 / 7 = 300,042.86
    assert cost.void_cost == 60_009  # 60 x 7,001 / 7 = 60,008.57


def test_a_block_costs_only_the_days_it_runs_within_the_period() -> None:
    block = a_block(units=2, starts_on=date(2024, 4, 11), ends_on=date(2024, 4, 20))

    cost = block_cost(block, APRIL_1, APRIL_30, occupied_unit_days=5)

    assert (cost.contracted_unit_days, cost.contract_value, cost.void_unit_days, cost.void_cost) == (20, 30_000, 15,
                                                                                                     22_500)


def test_a_60_40_funding_split_sums_to_the_penny_with_odd_pence() -> None:
    sixty_forty = (FundingShare(stream=FundingStream.leaving_care, share=6000),
                   FundingShare(stream=FundingStream.housing_benefit, share=4000))
    contract = a_contract(package=a_package(rent=700, service_charge=0, support=301), funding=sixty_forty)

    accrual = only(accrue([a_stay(until=date(2024, 4, 8))], [contract], APRIL_1, APRIL_30))

    assert accrual.cost.whole == 1001
    assert accrual.cost.by_stream == {FundingStream.leaving_care: 601, FundingStream.housing_benefit: 400}
    assert split(100, {"a": 1, "b": 1, "c": 1}) == {"a": 34, "b": 33, "c": 33}
    assert split(1001, sixty_forty) == {FundingStream.leaving_care: 601, FundingStream.housing_benefit: 400}


def test_a_funding_change_mid_month_splits_each_night_by_the_shares_in_force_that_night() -> None:
    half = (FundingShare(stream=FundingStream.leaving_care, share=5000),
            FundingShare(stream=FundingStream.housing_benefit, share=5000))
    contract = replace(a_contract(), funding=(DatedFunding(date(2024, 1, 1), LEAVING_CARE),
                                              DatedFunding(date(2024, 4, 11), half)))

    accrual = only(accrue([a_stay()], [contract], APRIL_1, APRIL_30))

    assert accrual.cost.by_stream == {FundingStream.leaving_care: 10 * 1500 + 20 * 750,
                                      FundingStream.housing_benefit: 20 * 750}


def test_payment_by_results_holds_back_its_share_of_support_until_released() -> None:
    contract = a_contract(payment_by_results=PaymentByResults(share=1000, outcome=Outcome.maintain_accommodation))
    stay = a_stay()

    held = only(accrue([stay], [contract], APRIL_1, APRIL_30))
    paid = only(accrue([stay], [contract], APRIL_1, APRIL_30, released=frozenset({stay.stay_id})))

    assert held.cost.support == paid.cost.support == 30 * 300
    assert held.held_back == 900 and paid.held_back == 0
    assert held.cost == paid.cost


def test_a_stay_no_contract_covers_is_flagged_unfunded_with_its_nights() -> None:
    contract = a_contract(starts_on=date(2024, 4, 11))

    unfunded, funded = accrue([a_stay()], [contract], APRIL_1, APRIL_30)

    assert (unfunded.contract_id, unfunded.days, unfunded.unfunded_days, unfunded.uncosted) == (None, 10, 10,
                                                                                                "unfunded")
    assert unfunded.cost == CostPart()
    assert (funded.contract_id, funded.days, funded.unfunded_days, funded.cost.whole) == (contract.contract_id, 20, 0,
                                                                                          20 * 1500)


def test_per_support_hour_floating_support_is_costed_at_its_end_for_the_hours_delivered() -> None:
    hourly = a_contract(basis=PriceBasis.per_support_hour, service_type=ServiceType.floating_support,
                        package=Package(support=2500))
    stay = a_stay(first_night=date(2024, 3, 10), until=date(2024, 5, 5), kind="floating_support", placement_id=None,
                  hours_delivered=37.5)

    march, april, may = accrue([stay], [hourly], date(2024, 3, 1), date(2024, 5, 31))
    still_open = accrue([a_stay(first_night=date(2024, 3, 10), kind="floating_support")], [hourly],
                        date(2024, 3, 1), date(2024, 5, 31))

    assert [(a.month.month, a.days, a.cost.whole, a.uncosted) for a in (march, april)] == [
        (3, 22, 0, "costed_at_end"), (4, 30, 0, "costed_at_end")]
    assert (may.days, may.hours, may.uncosted, may.cost) == (4, 37.5, None, CostPart(
        support=93_750, by_stream={FundingStream.leaving_care: 93_750}))
    assert [a.cost.whole for a in still_open] == [0, 0, 0]


def test_floating_support_whose_hours_nobody_counted_has_its_days_at_cost_zero_and_says_hours_unknown() -> None:
    hourly = a_contract(basis=PriceBasis.per_support_hour, package=Package(support=2500))
    stay = a_stay(until=date(2024, 4, 21), kind="floating_support", hours_delivered=None)

    accrual = only(accrue([stay], [hourly], APRIL_1, APRIL_30))

    assert (accrual.days, accrual.cost.whole, accrual.hours, accrual.uncosted) == (20, 0, None, "hours_unknown")
    assert accrual.contract_id == hourly.contract_id and accrual.unfunded_days == 0


def test_a_stay_crossing_a_month_end_gives_two_accruals() -> None:
    stay = a_stay(first_night=date(2024, 4, 20), until=date(2024, 5, 10))

    april, may = accrue([stay], [a_contract()], APRIL_1, date(2024, 5, 31))

    assert [(a.month, a.days, a.cost.whole) for a in (april, may)] == [
        (APRIL_1, 11, 11 * 1500), (date(2024, 5, 1), 9, 9 * 1500)]


def test_block_subsidy_excludes_rent() -> None:
    subsidy = a_block(units=5, procurement=Procurement.block_subsidy)

    accrual = only(accrue([a_stay()], [subsidy], APRIL_1, APRIL_30))

    assert accrual.cost == CostPart(rent=0, service_charge=30 * 200, support=30 * 300,
                                    by_stream={FundingStream.leaving_care: 30 * 500})
    assert block_cost(subsidy, APRIL_1, APRIL_30, 30).contract_value == 5 * 30 * 500


def test_committed_to_year_end_counts_open_stays_and_whole_blocks_at_todays_prices() -> None:
    today, year_end = date(2025, 1, 1), date(2025, 3, 31)  # 90 days
    spot = a_contract(prices=(DatedPackage(date(2024, 1, 1), a_package()),
                              DatedPackage(date(2025, 2, 1), a_package(rent=70_000))))  # an uplift not yet in force
    block_scheme = uuid4()
    block = a_block(units=2, scheme_ids=frozenset({block_scheme}), package=a_package(1400, 0, 0))  # 200 a unit-day
    stays = [a_stay(first_night=date(2024, 12, 1)),  # 90 nights at 1,500
             a_stay(first_night=date(2024, 12, 1), until=date(2024, 12, 20)),  # ended: nothing
             a_stay(first_night=date(2025, 3, 22)),  # 10 nights at 1,500
             a_stay(first_night=date(2024, 12, 1), scheme_id=block_scheme),  # in the block's value already
             a_stay(first_night=date(2024, 12, 1), scheme_id=uuid4())]  # unfunded: nothing

    assert committed(stays, [spot, block], today, year_end) == 90 * 1500 + 10 * 1500 + 2 * 90 * 200


def test_two_contracts_covering_one_scheme_on_one_day_is_an_error_naming_both() -> None:
    first, second = a_contract(name="Spot beds"), a_contract(name="Framework beds", starts_on=date(2024, 4, 1))

    assert contract_covering([first, second], SCHEME, date(2024, 3, 31)) is first
    with pytest.raises(ValueError, match="'Spot beds'.*'Framework beds'"):
        contract_covering([first, second], SCHEME, APRIL_1)
    with pytest.raises(ValueError, match="Framework beds"):
        accrue([a_stay()], [first, second], APRIL_1, APRIL_30)


def test_a_stay_moving_from_one_contract_to_another_mid_month_has_an_accrual_under_each() -> None:
    old = a_contract(ends_on=date(2024, 4, 10))
    new = a_contract(starts_on=date(2024, 4, 11), package=a_package(rent=14_000))

    first, second = accrue([a_stay()], [old, new], APRIL_1, APRIL_30)

    assert (first.contract_id, first.days, first.cost.whole) == (old.contract_id, 10, 10 * 1500)
    assert (second.contract_id, second.days, second.cost.whole) == (new.contract_id, 20, 20 * 2500)


def test_unit_cost_per_week_gives_whole_package_and_support_only_side_by_side_per_scheme() -> None:
    hostel, floating = uuid4(), uuid4()
    spot = a_contract(scheme_ids=frozenset({hostel}))
    hourly = a_contract(scheme_ids=frozenset({floating}), basis=PriceBasis.per_support_hour,
                        package=Package(support=2500))
    stays = [a_stay(scheme_id=hostel), a_stay(scheme_id=hostel, first_night=date(2024, 4, 16)),
             a_stay(scheme_id=floating, until=date(2024, 4, 29), hours_delivered=28.0)]

    costs = unit_cost_per_week(accrue(stays, [spot, hourly], APRIL_1, APRIL_30))

    assert costs[hostel].days == 45 and costs[hostel].people == 2
    assert (costs[hostel].whole_per_week, costs[hostel].support_per_week) == (10_500, 2100)
    assert (costs[floating].days, costs[floating].whole, costs[floating].whole_per_week) == (28, 70_000, 17_500)
    assert costs[floating].support_per_hour == 2500


def test_a_contract_without_a_price_on_its_first_day_is_refused() -> None:
    with pytest.raises(ValueError, match="no prices in force"):
        a_contract(prices=(DatedPackage(date(2024, 2, 1), a_package()),))

