"""The finance service's rules: contracts with their prices and funding from a day on, each scheme's cover (no two
contracts for one scheme on one day), budgets and individual service funds; through the Finance store in memory
(each refusal saves nothing), and the request bodies that refuse what the events would."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4, uuid5

import pytest
from eventsourcing.persistence import IntegrityError
from pydantic import ValidationError

from services.finance.api.schemas import NewContract, NewFunding, NewPrice
from services.finance.application import AnyFinanceAggregate, ChangedConcurrently, Finance
from services.finance.domain import (
    BUDGET_NAMESPACE,
    SCHEME_COVER_NAMESPACE,
    BlockContractWithoutUnits,
    BlockPricedPerHour,
    Budget,
    Contract,
    ContractEndsBeforeItStarts,
    DistrictNotInForce,
    EventDatedInTheFuture,
    FundEndsBeforeItStarts,
    FundingAfterContract,
    FundingBeforeContract,
    FundingSharesNotWhole,
    FundOverspent,
    IndividualServiceFund,
    OverlappingContract,
    PriceAfterContract,
    PriceBeforeContract,
    SchemeCover,
    SchemeCovered,
    SchemeNamedTwice,
    SpendingOutsideFund,
    SupportHourPriceWithRent,
    UnknownContract,
    UnknownDistrict,
    UnknownFund,
    budget_id_for,
    financial_year_of,
    scheme_cover_id,
)
from shared.contracts.finance import (
    NO_CASE,
    BudgetSet,
    ContractAgreed,
    ContractFundingChanged,
    ContractPriceChanged,
    IndividualServiceFundAgreed,
    IndividualServiceFundSpent,
    Package,
    PriceBasis,
    Procurement,
)
from shared.contracts.outcomes import ServiceType
from shared.contracts.vocabulary import Cohort
from shared.errors import Conflict, NotFound, Refused

from .finance_builders import (
    ALL_LEAVING_CARE,
    CONTEXT,
    NOW,
    PACKAGE,
    a_fund,
    agreed,
    contract_terms,
    day,
    days_ago,
    events_of,
    every_event,
    fund_terms,
    in_memory_finance,
    shares,
)

UPLIFT = Package(rent=12_500, service_charge=3_000, support=26_000)
CORRECTION = Package(rent=12_200, service_charge=3_000, support=25_500)
TOMORROW = NOW + timedelta(days=1)


def change_price(store: Finance, contract: Contract, effective_from, package: Package = UPLIFT,
                 occurred_at=None) -> int:
    return store.change_price(CONTEXT, contract.id, effective_from=effective_from, package=package,
                              occurred_at=occurred_at or days_ago(1))


def change_funding(store: Finance, contract: Contract, effective_from, funding=None, occurred_at=None) -> int:
    return store.change_funding(CONTEXT, contract.id, effective_from=effective_from,
                                funding=funding or shares(leaving_care=6_000, housing_benefit=4_000),
                                occurred_at=occurred_at or days_ago(1))


def stale_once(read: Callable[..., Any], stale: Any = None) -> Callable[..., Any]:
    """`read`, answering `stale` the first time: what a request read before another request's change was saved."""
    answers = [stale]

    def reading(*key: Any) -> Any:
        return answers.pop() if answers else read(*key)
    return reading


def refusals_by_the_store(store: Finance) -> list[IntegrityError]:
    """The version conflicts the store raises from now on (each makes the change be decided again)."""
    refused: list[IntegrityError] = []
    record = store.record

    def recording(*args: Any, **kwargs: Any) -> int:
        try:
            return record(*args, **kwargs)
        except IntegrityError as error:
            refused.append(error)
            raise
    store.record = recording  # type: ignore[method-assign]
    return refused


# -- agreeing a contract ----------------------------------------------------------------------------


def test_agreeing_a_contract_records_its_terms_about_no_young_person_in_the_district_given():
    store = in_memory_finance()
    terms = contract_terms(district="lancaster", payment_by_results={"share": 1_000, "outcome": "obtain_paid_work"})
    contract, position = store.agree_contract(CONTEXT, **terms)
    assert position == store.position() > 0
    [event] = events_of(store, contract.id)
    assert isinstance(event, ContractAgreed) and event.contract_id == contract.id == event.aggregate_id
    assert (event.case_id, event.person_ref, event.district) == (NO_CASE, NO_CASE, "lancaster")
    assert event.package == PACKAGE and event.funding == ALL_LEAVING_CARE
    assert (event.starts_on, event.ends_on, event.occurred_at) == (terms["starts_on"], terms["ends_on"],
                                                                   terms["occurred_at"])
    assert event.payment_by_results is not None and event.payment_by_results.share == 1_000
    assert event.actor == CONTEXT.actor and event.correlation_id == CONTEXT.correlation_id


def test_a_contract_covers_each_of_its_schemes_saved_in_the_same_change():
    store = in_memory_finance()
    schemes = [uuid4(), uuid4()]
    contract = agreed(store, scheme_ids=schemes)
    assert [type(event) for event in every_event(store)] == [ContractAgreed, SchemeCovered, SchemeCovered]
    for scheme_id in schemes:
        [covered] = events_of(store, scheme_cover_id(scheme_id))
        assert isinstance(covered, SchemeCovered)
        assert (covered.scheme_id, covered.contract_id) == (scheme_id, contract.id)
        assert (covered.starts_on, covered.ends_on) == (contract.starts_on, contract.ends_on)
        assert (covered.case_id, covered.person_ref, covered.district) == (NO_CASE, NO_CASE, "preston")
        cover = store.scheme_cover(scheme_id)
        assert cover is not None and cover.contract_on(day(0)) == contract.id
        assert cover.contract_on(contract.starts_on - timedelta(days=1)) is None


def test_a_scheme_covers_id_is_the_uuid5_of_the_fixed_namespace_and_the_scheme():
    scheme_id = uuid4()
    assert scheme_cover_id(scheme_id) == uuid5(SCHEME_COVER_NAMESPACE, str(scheme_id)) == scheme_cover_id(scheme_id)
    assert scheme_cover_id(uuid4()) != scheme_cover_id(scheme_id)
    assert SCHEME_COVER_NAMESPACE == UUID("9c6712d8-961e-593a-a40c-a77dee316f3b")  # changed, every cover is lost


def test_an_open_ended_contract_covers_every_day_from_its_start():
    store = in_memory_finance()
    contract = agreed(store, ends_on=None)
    assert contract.covers(day(10_000)) and not contract.covers(contract.starts_on - timedelta(days=1))
    assert contract.package_on(day(10_000)) == PACKAGE


@pytest.mark.parametrize(("terms", "error"), [
    ({"funding": shares(leaving_care=6_000, housing_benefit=3_000)}, FundingSharesNotWhole),
    ({"funding": shares(leaving_care=6_000, housing_benefit=5_000)}, FundingSharesNotWhole),
    ({"funding": shares(leaving_care=6_000) + shares(leaving_care=4_000)}, FundingSharesNotWhole),
    ({"funding": []}, FundingSharesNotWhole),
    ({"ends_on": day(-201)}, ContractEndsBeforeItStarts),
    ({"procurement": Procurement.block_gross, "contracted_units": None}, BlockContractWithoutUnits),
    ({"procurement": Procurement.block_subsidy, "contracted_units": None}, BlockContractWithoutUnits),
    ({"basis": PriceBasis.per_support_hour, "package": PACKAGE}, SupportHourPriceWithRent),
    ({"procurement": Procurement.block_gross, "contracted_units": 3, "basis": PriceBasis.per_support_hour,
      "package": Package(support=2_500)}, BlockPricedPerHour),
    ({"scheme_ids": [UUID(int=7), UUID(int=7)]}, SchemeNamedTwice),
    ({"occurred_at": TOMORROW}, EventDatedInTheFuture),
    ({"district": "atlantis"}, UnknownDistrict),
], ids=["shares sum to 90%", "shares sum to 110%", "a stream twice", "no stream", "ends before it starts",
        "block gross without units", "block subsidy without units", "per support hour with rent",
        "a block priced per hour", "a scheme twice",
        "dated in the future", "unknown district"])
def test_a_contract_breaking_a_rule_is_refused_by_name_and_saves_nothing(terms: dict, error: type):
    store = in_memory_finance()
    with pytest.raises(error):
        store.agree_contract(CONTEXT, **contract_terms(**terms))
    assert store.position() == 0


def test_funding_shares_not_summing_to_100_percent_say_what_they_sum_to():
    with pytest.raises(FundingSharesNotWhole, match=r"funding shares sum to 90%, not 100%"):
        in_memory_finance().agree_contract(CONTEXT, **contract_terms(
            funding=shares(leaving_care=6_000, housing_benefit=3_000)))


def test_the_event_itself_refuses_funding_shares_not_summing_to_100_percent():
    contract = agreed(in_memory_finance())
    fields = contract.agreed.model_dump() | {"funding": shares(leaving_care=5_000)}
    with pytest.raises(ValidationError, match=r"funding shares sum to 50%, not 100%"):
        ContractAgreed(**fields)


def test_a_contract_agreed_in_a_district_no_longer_in_force_is_refused(monkeypatch: pytest.MonkeyPatch):
    import services.finance.domain.base as base
    from shared.contracts.vocabulary import DistrictNotInForce as NotInForce

    def retired(code: str, on: Any) -> str:
        raise NotInForce(f"{code} ended before {on}")

    monkeypatch.setattr(base, "district_in_force", retired)
    store = in_memory_finance()
    with pytest.raises(DistrictNotInForce):
        store.agree_contract(CONTEXT, **contract_terms())
    assert store.position() == 0


def test_a_block_contract_with_its_units_and_a_contract_priced_per_support_hour_are_agreed():
    store = in_memory_finance()
    block = agreed(store, procurement=Procurement.block_subsidy, contracted_units=12)
    hourly = agreed(store, basis=PriceBasis.per_support_hour, package=Package(support=2_400))
    assert block.agreed.contracted_units == 12
    assert hourly.package_on(day(0)) == Package(support=2_400)


# -- the request body refuses what the event would (HTTP 422 with the rule's words) --------------------


def contract_body(**overrides: Any) -> dict[str, Any]:
    terms = contract_terms() | overrides
    terms.pop("occurred_at")
    return terms


@pytest.mark.parametrize(("overrides", "message"), [
    ({"funding": shares(leaving_care=6_000, housing_benefit=3_000)}, "funding shares sum to 90%, not 100%"),
    ({"funding": shares(leaving_care=6_000) + shares(leaving_care=4_000)}, "names a funding stream more than once"),
    ({"ends_on": day(-201)}, "before it starts"),
    ({"procurement": "block_gross"}, "how many units it pays for"),
    ({"basis": "per_support_hour"}, "per support hour has support only"),
])
def test_a_new_contract_body_refuses_what_the_event_would_with_a_clear_message(overrides: dict, message: str):
    with pytest.raises(ValidationError, match=message):
        NewContract(**contract_body(**overrides))


def test_a_funding_change_body_refuses_shares_not_summing_to_100_percent():
    with pytest.raises(ValidationError, match="funding shares sum to 99.99%, not 100%"):
        NewFunding(effective_from=day(0), funding=shares(leaving_care=9_999))


@pytest.mark.parametrize("part", ["rent", "service_charge", "support"])
def test_a_negative_price_is_refused_by_validation(part: str):
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        NewPrice(effective_from=day(0), package={part: -1})
    with pytest.raises(ValidationError):
        NewContract(**contract_body(package={part: -100}))


# -- prices and funding from a day on ------------------------------------------------------------------


def test_a_price_change_is_recorded_from_its_day_and_the_history_is_kept_nothing_edited():
    store = in_memory_finance()
    contract = agreed(store)
    first = events_of(store, contract.id)[0]
    change_price(store, contract, day(-100), UPLIFT, occurred_at=days_ago(101))
    change_price(store, contract, day(-30), CORRECTION, occurred_at=days_ago(2))
    events = events_of(store, contract.id)
    assert [type(event) for event in events] == [ContractAgreed, ContractPriceChanged, ContractPriceChanged]
    assert events[0] == first  # the agreement as it was: nothing edited
    assert all((e.case_id, e.person_ref, e.district) == (NO_CASE, NO_CASE, "preston") for e in events)
    history = store.contract(contract.id).prices
    assert [(entry.effective_from, entry.package) for entry in history] == [
        (contract.starts_on, PACKAGE), (day(-100), UPLIFT), (day(-30), CORRECTION)]
    assert [entry.event_id for entry in history] == [event.event_id for event in events]


def test_a_contracts_package_on_a_day():
    store = in_memory_finance()
    contract = agreed(store, starts_on=day(-200), ends_on=day(100))
    change_price(store, contract, day(-100), UPLIFT)
    contract = store.contract(contract.id)
    assert contract.package_on(day(-201)) is None  # before it starts
    assert contract.package_on(day(-200)) == PACKAGE
    assert contract.package_on(day(-101)) == PACKAGE  # earlier days keep their price
    assert contract.package_on(day(-100)) == UPLIFT
    assert contract.package_on(day(100)) == UPLIFT
    assert contract.package_on(day(101)) is None  # after it ends


def test_a_price_backdated_later_applies_from_its_day_until_the_next_change():
    store = in_memory_finance()
    contract = agreed(store, starts_on=day(-200))
    change_price(store, contract, day(-50), UPLIFT, occurred_at=days_ago(60))
    change_price(store, contract, day(-150), CORRECTION, occurred_at=days_ago(5))  # recorded later, earlier day
    contract = store.contract(contract.id)
    assert [contract.package_on(day(d)) for d in (-151, -150, -51, -50, 0)] == [
        PACKAGE, CORRECTION, CORRECTION, UPLIFT, UPLIFT]


def test_of_two_prices_from_the_same_day_the_later_recorded_applies():
    store = in_memory_finance()
    contract = agreed(store)
    change_price(store, contract, day(-10), UPLIFT, occurred_at=days_ago(20))
    change_price(store, contract, day(-10), CORRECTION, occurred_at=days_ago(3))
    assert store.contract(contract.id).package_on(day(-10)) == CORRECTION
    assert len(store.contract(contract.id).prices) == 3


def test_a_price_may_take_effect_on_the_days_its_contract_starts_and_ends():
    store = in_memory_finance()
    contract = agreed(store, starts_on=day(-200), ends_on=day(-10))
    change_price(store, contract, day(-200), UPLIFT)
    change_price(store, contract, day(-10), CORRECTION)
    contract = store.contract(contract.id)
    assert (contract.package_on(day(-200)), contract.package_on(day(-10))) == (UPLIFT, CORRECTION)


def test_a_contract_priced_per_support_hour_refuses_a_new_price_with_rent():
    store = in_memory_finance()
    contract = agreed(store, basis=PriceBasis.per_support_hour, package=Package(support=2_400))
    with pytest.raises(SupportHourPriceWithRent):
        change_price(store, contract, day(-1), Package(rent=100, support=2_500))


def test_a_funding_change_is_recorded_from_its_day_and_the_shares_on_a_day_follow_it():
    store = in_memory_finance()
    contract = agreed(store, starts_on=day(-200))
    split = shares(leaving_care=6_000, housing_benefit=4_000)
    change_funding(store, contract, day(-20), split)
    contract = store.contract(contract.id)
    [changed] = [e for e in events_of(store, contract.id) if isinstance(e, ContractFundingChanged)]
    assert (changed.effective_from, changed.funding, changed.case_id) == (day(-20), split, NO_CASE)
    assert contract.funding_on(day(-21)) == ALL_LEAVING_CARE
    assert contract.funding_on(day(-20)) == split
    assert contract.funding_on(day(-201)) is None
    assert [entry.funding for entry in contract.funding_history] == [tuple(ALL_LEAVING_CARE), tuple(split)]


def test_a_contract_rebuilt_from_its_events_has_the_state_they_recorded():
    store = in_memory_finance()
    contract = agreed(store)
    change_price(store, contract, day(-10))
    change_funding(store, contract, day(-5))
    rebuilt = Contract.from_history(events_of(store, contract.id))
    assert rebuilt is not None and rebuilt.version == 3
    assert rebuilt.package_on(day(0)) == UPLIFT
    assert rebuilt.funding_on(day(0)) == shares(leaving_care=6_000, housing_benefit=4_000)


# -- no two contracts for one scheme on one day --------------------------------------------------------


def test_an_overlapping_contract_for_a_scheme_is_refused_naming_the_other_and_saves_nothing():
    store = in_memory_finance()
    scheme = uuid4()
    first = agreed(store, scheme_ids=[scheme], starts_on=day(-200), ends_on=day(100))
    position = store.position()
    with pytest.raises(OverlappingContract) as refused:
        store.agree_contract(CONTEXT, **contract_terms(scheme_ids=[scheme], starts_on=day(100), ends_on=None,
                                                       contract_id=(second := uuid4())))
    assert str(first.id) in str(refused.value) and refused.value.other_contract_id == first.id
    assert refused.value.status == 409
    [reason] = refused.value.reasons()
    assert reason["type"] == "OverlappingContract" and reason["contract_id"] == str(first.id)
    assert store.position() == position and events_of(store, second) == []
    assert [c.contract_id for c in store.scheme_cover(scheme).covers] == [first.id]


@pytest.mark.parametrize(("first", "second"), [
    ((-200, None), (300, 400)),  # the first is open-ended
    ((-200, 100), (-300, -200)),  # ends the day the first starts
    ((-200, 100), (-100, -50)),  # within the first
    ((-100, -50), (-200, 100)),  # around the first
    ((-200, 100), (-300, None)),
])
def test_contracts_for_a_scheme_overlapping_by_a_day_or_more_are_refused(first: tuple, second: tuple):
    store = in_memory_finance()
    scheme = uuid4()
    agreed(store, scheme_ids=[scheme], starts_on=day(first[0]), ends_on=first[1] and day(first[1]))
    with pytest.raises(OverlappingContract):
        agreed(store, scheme_ids=[scheme], starts_on=day(second[0]), ends_on=second[1] and day(second[1]))


def test_contracts_for_a_scheme_one_after_the_other_are_both_agreed():
    store = in_memory_finance()
    scheme = uuid4()
    first = agreed(store, scheme_ids=[scheme], starts_on=day(-200), ends_on=day(-1))
    second = agreed(store, scheme_ids=[scheme], starts_on=day(0), ends_on=None)
    cover = store.scheme_cover(scheme)
    assert cover is not None and cover.version == 2
    assert (cover.contract_on(day(-1)), cover.contract_on(day(0))) == (first.id, second.id)


def test_a_contract_for_several_schemes_overlapping_on_one_saves_nothing_for_any():
    store = in_memory_finance()
    taken, free = uuid4(), uuid4()
    agreed(store, scheme_ids=[taken])
    position = store.position()
    with pytest.raises(OverlappingContract):
        agreed(store, scheme_ids=[free, taken])
    assert store.position() == position and store.scheme_cover(free) is None


def test_two_overlapping_contracts_agreed_at_the_same_moment_cannot_both_be_saved():
    """The second request read the scheme's cover before the first saved: the store refuses its cover's version
    (the same as the first's), and deciding again on what the first saved refuses it as overlapping."""
    store = in_memory_finance()
    scheme = uuid4()
    first = agreed(store, scheme_ids=[scheme])
    store.scheme_cover = stale_once(store.scheme_cover)  # type: ignore[method-assign] - read before the first saved
    conflicts = refusals_by_the_store(store)
    with pytest.raises(OverlappingContract) as refused:
        store.agree_contract(CONTEXT, **contract_terms(scheme_ids=[scheme], contract_id=(second := uuid4())))
    assert len(conflicts) == 1 and refused.value.other_contract_id == first.id
    assert events_of(store, second) == [] and len(events_of(store, scheme_cover_id(scheme))) == 1


def test_a_contract_overtaken_by_one_that_does_not_overlap_is_decided_again_and_saved():
    store = in_memory_finance()
    scheme = uuid4()
    agreed(store, scheme_ids=[scheme], starts_on=day(-200), ends_on=day(-1))
    real = store.scheme_cover
    store.scheme_cover = stale_once(real)  # type: ignore[method-assign]
    conflicts = refusals_by_the_store(store)
    second = agreed(store, scheme_ids=[scheme], starts_on=day(0))
    assert len(conflicts) == 1
    assert [c.contract_id for c in real(scheme).covers][-1] == second.id
    assert [e.aggregate_version for e in events_of(store, scheme_cover_id(scheme))] == [1, 2]


def test_a_change_overtaken_every_time_gives_up_as_changed_concurrently():
    store = in_memory_finance()
    scheme = uuid4()
    agreed(store, scheme_ids=[scheme], starts_on=day(-200), ends_on=day(-1))
    store.scheme_cover = lambda scheme_id: None  # type: ignore[method-assign] - always read stale
    conflicts = refusals_by_the_store(store)
    with pytest.raises(ChangedConcurrently):
        agreed(store, scheme_ids=[scheme], starts_on=day(0))
    assert len(conflicts) == Finance.ATTEMPTS


# -- price and funding refusals ------------------------------------------------------------------------


def test_a_change_to_an_unknown_contract_is_not_found():
    store = in_memory_finance()
    missing = uuid4()
    with pytest.raises(UnknownContract):
        store.change_price(CONTEXT, missing, effective_from=day(0), package=UPLIFT, occurred_at=days_ago(1))
    with pytest.raises(UnknownContract):
        store.change_funding(CONTEXT, missing, effective_from=day(0), funding=ALL_LEAVING_CARE,
                             occurred_at=days_ago(1))
    with pytest.raises(UnknownContract):
        store.contract(missing)


def test_a_contract_is_not_another_kind_of_aggregate():
    store = in_memory_finance()
    fund = a_fund(store)
    contract = agreed(store)
    with pytest.raises(UnknownContract):
        store.contract(fund.id)
    with pytest.raises(UnknownContract):
        store.contract(scheme_cover_id(contract.agreed.scheme_ids[0]))
    with pytest.raises(UnknownFund):
        store.fund(contract.id)


Command = Callable[[Finance, Contract], object]

CONTRACT_REFUSALS: dict[str, tuple[Command, type[Exception]]] = {
    "price before the contract": (lambda s, c: change_price(s, c, day(-201)), PriceBeforeContract),
    "price after the contract": (lambda s, c: change_price(s, c, day(530)), PriceAfterContract),
    "price dated in the future": (lambda s, c: change_price(s, c, day(0), occurred_at=TOMORROW),
                                  EventDatedInTheFuture),
    "funding before the contract": (lambda s, c: change_funding(s, c, day(-201)), FundingBeforeContract),
    "funding after the contract": (lambda s, c: change_funding(s, c, day(530)), FundingAfterContract),
    "funding not whole": (lambda s, c: change_funding(s, c, day(0), shares(leaving_care=9_000)),
                          FundingSharesNotWhole),
    "funding dated in the future": (lambda s, c: change_funding(s, c, day(0), occurred_at=TOMORROW),
                                    EventDatedInTheFuture),
}


@pytest.mark.parametrize("name", list(CONTRACT_REFUSALS))
def test_a_refused_price_or_funding_change_saves_nothing(name: str):
    command, error = CONTRACT_REFUSALS[name]
    store = in_memory_finance()
    contract = agreed(store, starts_on=day(-200), ends_on=day(529))
    events, position = events_of(store, contract.id), store.position()
    with pytest.raises(error):
        command(store, contract)
    assert events_of(store, contract.id) == events and store.position() == position


def test_a_price_from_a_day_still_to_come_is_accepted():
    store = in_memory_finance()
    contract = agreed(store)
    change_price(store, contract, day(60))  # an uplift agreed now for a later day
    assert store.contract(contract.id).package_on(day(59)) == PACKAGE
    assert store.contract(contract.id).package_on(day(60)) == UPLIFT


def test_contracts_are_listed_in_the_order_agreed():
    store = in_memory_finance()
    contracts = [agreed(store), agreed(store), agreed(store)]
    change_price(store, contracts[0], day(0))
    assert [contract.id for contract in store.contracts()] == [contract.id for contract in contracts]


def test_the_store_loads_each_kind_of_aggregate_by_its_first_event():
    store = in_memory_finance()
    contract = agreed(store)
    fund = a_fund(store)
    budget, _ = store.set_budget(CONTEXT, financial_year=2024, service_type=ServiceType.long_term, client_group=None,
                                 amount=1, capacity_units=None, district="preston", occurred_at=days_ago(1))
    assert isinstance(store.load(contract.id), Contract)
    assert isinstance(store.load(fund.id), IndividualServiceFund)
    assert isinstance(store.load(budget.id), Budget)
    assert isinstance(store.load(scheme_cover_id(contract.agreed.scheme_ids[0])), SchemeCover)
    assert store.load(uuid4()) is None and AnyFinanceAggregate.from_history([]) is None


# -- budgets -------------------------------------------------------------------------------------------


def set_budget(store: Finance, amount: int = 50_000_000_00, **overrides: Any) -> tuple[Budget, int]:
    fields: dict[str, Any] = {"financial_year": 2024, "service_type": ServiceType.short_term,
                              "client_group": Cohort.care_leaver, "amount": amount, "capacity_units": 40,
                              "district": "preston", "occurred_at": days_ago(10)}
    return store.set_budget(CONTEXT, **(fields | overrides))


def test_a_budgets_id_is_derived_from_its_year_service_type_and_client_group():
    budget_id = budget_id_for(2024, ServiceType.short_term, Cohort.care_leaver)
    assert BUDGET_NAMESPACE == UUID("aa6d0e63-183c-5817-bc3e-8c685002db81")  # changed, every budget is lost
    assert budget_id == uuid5(BUDGET_NAMESPACE, "2024/short_term/care_leaver")
    assert budget_id_for(2024, ServiceType.short_term, None) == uuid5(BUDGET_NAMESPACE, "2024/short_term/all")
    assert len({budget_id_for(year, kind, group) for year in (2024, 2025) for kind in ServiceType
                for group in (None, *Cohort)}) == 2 * 3 * 5


def test_setting_a_budget_records_budget_set_about_no_young_person():
    store = in_memory_finance()
    budget, position = set_budget(store, district="lancaster")
    assert budget.id == budget_id_for(2024, ServiceType.short_term, Cohort.care_leaver)
    [event] = events_of(store, budget.id)
    assert isinstance(event, BudgetSet) and position == store.position()
    assert (event.budget_id, event.financial_year, event.service_type, event.client_group, event.amount,
            event.capacity_units) == (budget.id, 2024, ServiceType.short_term, Cohort.care_leaver, 50_000_000_00, 40)
    assert (event.case_id, event.person_ref, event.district) == (NO_CASE, NO_CASE, "lancaster")


def test_setting_a_budget_again_replaces_its_amount_and_keeps_the_history():
    store = in_memory_finance()
    first, _ = set_budget(store, amount=50_000_000_00, occurred_at=days_ago(30))
    again, _ = set_budget(store, amount=45_000_000_00, capacity_units=36, occurred_at=days_ago(5))
    assert again.id == first.id
    events = events_of(store, first.id)
    assert [(type(e), e.aggregate_version, e.amount) for e in events] == [
        (BudgetSet, 1, 50_000_000_00), (BudgetSet, 2, 45_000_000_00)]
    budget = store.budget(2024, ServiceType.short_term, Cohort.care_leaver)
    assert budget is not None and (budget.current.amount, budget.current.capacity_units) == (45_000_000_00, 36)
    assert [setting.amount for setting in budget.settings] == [50_000_000_00, 45_000_000_00]


def test_the_budgets_of_a_year_are_each_service_type_and_client_group_set_that_year():
    store = in_memory_finance()
    whole, _ = set_budget(store, client_group=None)
    leavers, _ = set_budget(store, client_group=Cohort.care_leaver)
    floating, _ = set_budget(store, service_type=ServiceType.floating_support, client_group=None)
    set_budget(store, financial_year=2025)
    assert [budget.id for budget in store.budgets(2024)] == [whole.id, leavers.id, floating.id]
    assert store.budgets(2023) == []


def test_a_budget_set_at_the_same_moment_as_another_is_decided_again_as_the_next_setting():
    store = in_memory_finance()
    set_budget(store, amount=100)
    store.budget = stale_once(store.budget)  # type: ignore[method-assign]
    conflicts = refusals_by_the_store(store)
    budget, _ = set_budget(store, amount=200)
    assert len(conflicts) == 1
    assert [e.amount for e in events_of(store, budget.id)] == [100, 200]


@pytest.mark.parametrize(("overrides", "error"), [
    ({"occurred_at": TOMORROW}, EventDatedInTheFuture), ({"district": "atlantis"}, UnknownDistrict)])
def test_a_refused_budget_saves_nothing(overrides: dict, error: type):
    store = in_memory_finance()
    with pytest.raises(error):
        set_budget(store, **overrides)
    assert store.position() == 0


def test_a_budget_with_a_negative_amount_is_refused_by_the_event():
    with pytest.raises(ValidationError):
        set_budget(in_memory_finance(), amount=-1)


def test_a_financial_year_runs_april_to_march():
    assert [financial_year_of(date(2024, m, 1)) for m in (3, 4, 12)] == [2023, 2024, 2024]
    assert financial_year_of(date(2025, 3, 31)) == 2024


# -- individual service funds --------------------------------------------------------------------------


def test_a_fund_is_agreed_for_a_case_and_its_events_carry_the_young_persons_case():
    store = in_memory_finance()
    terms = fund_terms()
    fund = a_fund(store, **terms)
    store.spend(CONTEXT, fund.id, amount=25_000, spent_on=day(-1), purpose="travel", occurred_at=NOW)
    agreed_event, spent = events_of(store, fund.id)
    assert isinstance(agreed_event, IndividualServiceFundAgreed) and isinstance(spent, IndividualServiceFundSpent)
    for event in (agreed_event, spent):
        assert (event.case_id, event.person_ref, event.district) == (terms["case_id"], terms["person_ref"],
                                                                     "preston")
        assert event.fund_id == fund.id
    assert (agreed_event.amount, agreed_event.stream) == (100_000, terms["stream"])
    assert (spent.amount, spent.spent_on, spent.purpose) == (25_000, day(-1), "travel")


def test_spending_reduces_the_balance_down_to_nothing_left():
    store = in_memory_finance()
    fund = a_fund(store, amount=100_000)
    _, _ = store.spend(CONTEXT, fund.id, amount=40_000, spent_on=day(-50), purpose="household_goods",
                       occurred_at=days_ago(50))
    spent, _ = store.spend(CONTEXT, fund.id, amount=60_000, spent_on=day(0), purpose="education_or_training",
                           occurred_at=NOW)
    assert (spent.spent, spent.balance) == (100_000, 0)
    assert [s.amount for s in store.fund(fund.id).spending] == [40_000, 60_000]


def test_spending_more_than_is_left_is_refused_as_overspent_saying_the_balance():
    store = in_memory_finance()
    fund = a_fund(store, amount=100_000)
    store.spend(CONTEXT, fund.id, amount=70_000, spent_on=day(-10), purpose="support", occurred_at=days_ago(10))
    with pytest.raises(FundOverspent, match="30000 pence left") as refused:
        store.spend(CONTEXT, fund.id, amount=30_001, spent_on=day(-1), purpose="support", occurred_at=days_ago(1))
    assert refused.value.balance == 30_000 and refused.value.reasons()[0]["balance"] == 30_000


def test_two_spends_at_the_same_moment_are_decided_one_after_the_other_and_never_overspend():
    store = in_memory_finance()
    fund = a_fund(store, amount=100_000)
    stale = store.fund(fund.id)  # as the second request read it, before the first spent
    store.spend(CONTEXT, fund.id, amount=80_000, spent_on=day(-1), purpose="support", occurred_at=days_ago(1))
    real = store.fund
    store.fund = stale_once(real, stale)  # type: ignore[method-assign]
    conflicts = refusals_by_the_store(store)
    with pytest.raises(FundOverspent):
        store.spend(CONTEXT, fund.id, amount=80_000, spent_on=day(-1), purpose="travel", occurred_at=days_ago(1))
    assert len(conflicts) == 1
    assert real(fund.id).balance == 20_000 and len(events_of(store, fund.id)) == 2


def spend(days_before: int = 1, amount: int = 1_000, occurred_at=None) -> Callable[[Finance, UUID], object]:
    return lambda store, fund_id: store.spend(CONTEXT, fund_id, amount=amount, spent_on=day(-days_before),
                                              purpose="other", occurred_at=occurred_at or NOW)


FUND_REFUSALS: dict[str, tuple[Callable[[Finance, UUID], object], type[Exception]]] = {
    "overspent": (spend(amount=100_001), FundOverspent),
    "spent before the fund": (spend(days_before=101), SpendingOutsideFund),
    "spent after the fund": (spend(days_before=101), SpendingOutsideFund),  # its fund ended 102 days ago
    "spent on a day still to come": (spend(days_before=-1), EventDatedInTheFuture),
    "recorded in the future": (spend(occurred_at=TOMORROW), EventDatedInTheFuture),
    "unknown fund": (lambda store, _: spend()(store, uuid4()), UnknownFund),
}


@pytest.mark.parametrize("name", list(FUND_REFUSALS))
def test_a_refused_spending_saves_nothing(name: str):
    command, error = FUND_REFUSALS[name]
    store = in_memory_finance()
    fund = a_fund(store, amount=100_000, starts_on=day(-100), ends_on=day(100))
    if name == "spent after the fund":
        fund = a_fund(store, amount=100_000, starts_on=day(-300), ends_on=day(-102))
    events, position = events_of(store, fund.id), store.position()
    with pytest.raises(error):
        command(store, fund.id)
    assert events_of(store, fund.id) == events and store.position() == position


def test_spending_on_the_first_and_last_days_of_a_fund_is_accepted():
    store = in_memory_finance()
    fund = a_fund(store, starts_on=day(-20), ends_on=day(-10))
    spend(days_before=20)(store, fund.id)
    spend(days_before=10)(store, fund.id)
    assert store.fund(fund.id).spent == 2_000


@pytest.mark.parametrize(("overrides", "error"), [
    ({"ends_on": day(-101)}, FundEndsBeforeItStarts), ({"occurred_at": TOMORROW}, EventDatedInTheFuture),
    ({"district": "atlantis"}, UnknownDistrict)])
def test_a_refused_fund_saves_nothing(overrides: dict, error: type):
    store = in_memory_finance()
    with pytest.raises(error):
        a_fund(store, **overrides)
    assert store.position() == 0


def test_an_unknown_fund_is_not_found():
    with pytest.raises(UnknownFund):
        in_memory_finance().fund(uuid4())


# -- the errors' kinds -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("error", "kind", "status"), [
    (FundingSharesNotWhole, Refused, 422), (PriceBeforeContract, Refused, 422), (PriceAfterContract, Refused, 422),
    (FundingBeforeContract, Refused, 422), (FundingAfterContract, Refused, 422),
    (ContractEndsBeforeItStarts, Refused, 422), (BlockContractWithoutUnits, Refused, 422),
    (SupportHourPriceWithRent, Refused, 422), (SchemeNamedTwice, Refused, 422), (SpendingOutsideFund, Refused, 422),
    (FundEndsBeforeItStarts, Refused, 422), (EventDatedInTheFuture, Refused, 422), (UnknownDistrict, Refused, 422),
    (DistrictNotInForce, Refused, 422), (OverlappingContract, Conflict, 409), (FundOverspent, Conflict, 409),
    (ChangedConcurrently, Conflict, 409), (UnknownContract, NotFound, 404), (UnknownFund, NotFound, 404)])
def test_each_named_error_is_of_its_kind(error: type, kind: type, status: int):
    assert issubclass(error, kind) and error.status == status


def test_a_refusal_names_the_field_it_refuses():
    store = in_memory_finance()
    contract = agreed(store)
    with pytest.raises(PriceBeforeContract) as refused:
        change_price(store, contract, contract.starts_on - timedelta(days=1))
    assert refused.value.reasons() == [{"loc": ["body", "effective_from"], "msg": str(refused.value),
                                        "type": "PriceBeforeContract"}]
