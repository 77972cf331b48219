"""Cost by funding stream on every published `CostAccrued` (`cost.by_stream`), as the journeys read it: the cost run's
stay-months recorded on the in-memory store and read back. Each stay-month's pence per stream sum exactly to its
rent + service charge + support, split the way finance's own reports split them (the whole package night by night
by the shares in force, rounded once, largest remainder); a stay no contract covers has none; a `CostPart` whose
streams do not sum to its total is refused; an event stored before (schema 1, the current one) reads back as
stored."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from services.finance.cost_run import months_of
from services.finance.costing import Contract, DatedFunding, DatedPackage, Stay, accrue
from services.finance.domain import stay_cost_id
from shared.contracts import parse_event
from shared.contracts.finance import (
    CostAccrued,
    CostPart,
    FundingShare,
    FundingStream,
    Package,
    PriceBasis,
    Procurement,
)
from shared.contracts.outcomes import ServiceType
from tests.unit.finance_builders import CONTEXT, events_of, in_memory_finance

LEAVING_CARE, HOUSING_BENEFIT = FundingStream.leaving_care, FundingStream.housing_benefit
SUPPORTING_PEOPLE = FundingStream.housing_related_support
APRIL_1, APRIL_30 = date(2024, 4, 1), date(2024, 4, 30)
SCHEME = uuid4()
NIGHT_OF_1001 = Package(rent=7_000, service_charge=0, support=7)
"""1,000 + 1 pence a night."""


def shares(**basis_points: int) -> tuple[FundingShare, ...]:
    return tuple(FundingShare(stream=FundingStream(stream), share=share) for stream, share in basis_points.items())


def a_contract(package: Package = NIGHT_OF_1001, *funding: DatedFunding, scheme_id: UUID = SCHEME) -> Contract:
    """A spot contract for the scheme from 1 January 2024, all leaving care unless other funding is given."""
    return Contract(contract_id=uuid4(), provider_id=uuid4(), name="Spot beds", procurement=Procurement.spot,
                    service_type=ServiceType.short_term, scheme_ids=frozenset({scheme_id}), starts_on=date(2024, 1, 1),
                    ends_on=None, contracted_units=None, basis=PriceBasis.per_unit_week, payment_by_results=None,
                    prices=(DatedPackage(date(2024, 1, 1), package),),
                    funding=funding or (DatedFunding(date(2024, 1, 1), shares(leaving_care=10_000)),))


def funded(package: Package = NIGHT_OF_1001, **basis_points: int) -> Contract:
    return a_contract(package, DatedFunding(date(2024, 1, 1), shares(**basis_points)))


def a_stay(nights: int = 1, scheme_id: UUID = SCHEME) -> Stay:
    """A placement from 1 April 2024 for `nights` nights."""
    return Stay(stay_id=uuid4(), case_id=uuid4(), person_ref=uuid4(), district="preston", placement_id=uuid4(),
                scheme_id=scheme_id, first_night=APRIL_1, until=APRIL_1 + timedelta(days=nights), kind="placement")


def published(stay: Stay, *contracts: Contract) -> CostAccrued:
    """The CostAccrued the cost run records for the stay's April, read back from the store."""
    store = in_memory_finance()
    store.publish_costs(CONTEXT, months_of(accrue([stay], contracts, APRIL_1, APRIL_30)), APRIL_30)
    [event] = events_of(store, stay_cost_id(stay.stay_id, APRIL_1))
    assert isinstance(event, CostAccrued)
    return event


def test_a_60_40_split_with_odd_pence_gives_the_odd_penny_to_the_larger_remainder() -> None:
    event = published(a_stay(), funded(leaving_care=6_000, housing_benefit=4_000))

    assert event.cost.whole == 1_001
    assert event.cost.by_stream == {LEAVING_CARE: 601, HOUSING_BENEFIT: 400}  # 600.6 and 400.4


def test_three_streams_share_the_pence_left_over_by_largest_remainder() -> None:
    event = published(a_stay(), funded(leaving_care=5_000, housing_benefit=3_000, housing_related_support=2_000))

    assert event.cost.by_stream == {LEAVING_CARE: 501, HOUSING_BENEFIT: 300, SUPPORTING_PEOPLE: 200}  # 500.5 .3 .2
    assert sum(event.cost.by_stream.values()) == event.cost.whole


def test_thirds_that_tie_give_the_penny_left_over_to_the_first_stream_named() -> None:
    contract = funded(Package(rent=7_000), housing_benefit=3_334, leaving_care=3_333, housing_related_support=3_333)

    event = published(a_stay(), contract)

    assert event.cost.by_stream == {HOUSING_BENEFIT: 334, LEAVING_CARE: 333, SUPPORTING_PEOPLE: 333}


def test_the_whole_package_is_split_not_each_part_so_the_streams_agree_with_the_reports() -> None:
    a_penny_each = Package(rent=7, service_charge=7, support=7)  # 1 + 1 + 1 pence a night

    event = published(a_stay(), funded(a_penny_each, leaving_care=5_000, housing_benefit=5_000))

    # part by part, each penny would go to leaving care (3 / 0); the whole 3 pence split half and half is 2 / 1
    assert event.cost.by_stream == {LEAVING_CARE: 2, HOUSING_BENEFIT: 1}


def test_a_change_of_shares_mid_month_is_weighted_by_the_nights_each_was_in_force() -> None:
    rent_of_7001 = Package(rent=7_001)  # 1,000.142.. pence a night
    contract = a_contract(rent_of_7001, DatedFunding(date(2024, 1, 1), shares(leaving_care=10_000)),
                          DatedFunding(date(2024, 4, 11), shares(leaving_care=6_000, housing_benefit=4_000)))

    event = published(a_stay(nights=30), contract)

    # 30 nights: 30,004.29 rounded once to 30,004; leaving care 10 nights whole and 20 at 60% (22,003.14 of the
    # exact whole), housing benefit 20 at 40% (8,001.14), the whole shared in proportion: 22,002.93 and 8,001.07
    assert event.cost.whole == 30_004
    assert event.cost.by_stream == {LEAVING_CARE: 22_003, HOUSING_BENEFIT: 8_001}


def test_a_stay_no_contract_covers_is_published_unfunded_with_no_streams() -> None:
    elsewhere = a_contract(scheme_id=uuid4())

    event = published(a_stay(nights=5), elsewhere)

    assert (event.contract_id, event.days, event.cost.whole, event.cost.by_stream) == (None, 5, 0, {})


def test_a_month_partly_unfunded_splits_only_its_costed_nights() -> None:
    contract = funded(leaving_care=6_000, housing_benefit=4_000)
    ended = replace(contract, ends_on=date(2024, 4, 3))  # covers the first 3 of 10 nights

    event = published(a_stay(nights=10), ended)

    assert (event.contract_id, event.days, event.cost.whole) == (contract.contract_id, 10, 3 * 1_001)
    assert event.cost.by_stream == {LEAVING_CARE: 1_802, HOUSING_BENEFIT: 1_201}  # 1,801.8 and 1,201.2


def test_streams_that_do_not_sum_to_the_cost_are_refused_by_name() -> None:
    with pytest.raises(ValidationError, match=r"by_stream sums to 999 pence, not the cost's 1001"):
        CostPart(rent=1_000, support=1, by_stream={LEAVING_CARE: 600, HOUSING_BENEFIT: 399})


def test_an_event_whose_streams_do_not_sum_to_its_cost_is_refused() -> None:
    payload = json.loads(an_event_as_stored())
    payload["cost"]["by_stream"]["leaving_care"] += 1

    with pytest.raises(ValidationError, match="by_stream sums to 1002 pence"):
        parse_event(payload)


def test_a_cost_with_no_streams_is_accepted_whatever_its_total() -> None:
    assert CostPart(rent=1_000).by_stream == {}
    assert CostPart(rent=600, service_charge=300, support=101,
                    by_stream={LEAVING_CARE: 1_000, HOUSING_BENEFIT: 1}).whole == 1_001


def an_event_as_stored(**cost: Any) -> str:
    """A CostAccrued as the store keeps it (schema 1, what the cost run has published since it began)."""
    stay_id = uuid4()
    return json.dumps({
        "event_id": str(uuid4()), "event_type": "CostAccrued", "schema_version": 1,
        "aggregate_id": str(stay_cost_id(stay_id, APRIL_1)), "aggregate_version": 1, "case_id": str(uuid4()),
        "person_ref": str(uuid4()), "district": "preston", "occurred_at": "2024-05-01T00:00:00Z",
        "recorded_at": "2024-05-01T01:00:00Z", "actor": "casetrack:cost-run", "stay_id": str(stay_id),
        "placement_id": None, "scheme_id": str(SCHEME), "contract_id": str(uuid4()), "month": "2024-04-01",
        "days": 1, "held_back": 0,
        "cost": cost or {"rent": 1_000, "service_charge": 0, "support": 1,
                         "by_stream": {"leaving_care": 601, "housing_benefit": 400}}})


def test_an_event_stored_before_reads_back_with_its_streams_unchanged() -> None:
    event = parse_event(an_event_as_stored())

    assert isinstance(event, CostAccrued) and event.schema_version == 1
    assert event.cost.by_stream == {LEAVING_CARE: 601, HOUSING_BENEFIT: 400}
    assert event.occurred_at == datetime(2024, 5, 1, tzinfo=UTC)


def test_an_event_without_streams_reads_back_as_not_split() -> None:
    event = parse_event(an_event_as_stored(rent=1_000, service_charge=0, support=1))

    assert isinstance(event, CostAccrued) and event.cost.by_stream == {} and event.cost.whole == 1_001
