"""The arithmetic of the finance service: what each stay cost, month by month and by funding stream; what a block
contract costs and how much of it is void; what is committed to a day; the cost per person per week.

Pure: no database, no broker, no clock. The finance service feeds it from its read models.

Money is integer pence. Each night of a per-unit-week contract costs a seventh of the weekly package in force that
night, held exactly (as fractions of a penny) until the end: each part of an accrual is then rounded to the nearest
penny (half up) once, and the funding streams share the rounded whole by largest remainder, so they sum to it
exactly. Days are nights, as the placement service counts them (`night_of`): a stay from night N that ended on day M
occupies the nights N..M-1. A contract covers its schemes from `starts_on` to `ends_on`, both included.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from fractions import Fraction
from typing import Literal, TypeVar
from uuid import UUID

from shared.contracts.finance import (
    ALL,
    CostPart,
    FundingShare,
    FundingStream,
    Package,
    PaymentByResults,
    PriceBasis,
    Procurement,
    check_shares,
)
from shared.contracts.outcomes import ServiceType

K = TypeVar("K", bound=Hashable)
WEEK = 7
ONE_DAY = timedelta(days=1)

Uncosted = Literal["unfunded", "costed_at_end", "hours_unknown"]
"""Why an accrual's days carry no cost: `unfunded` no contract covers them; `costed_at_end` a per-support-hour
contract, paid for the hours delivered in the accrual of the month the support ended; `hours_unknown` the support
ended but nobody counted its hours, so they cannot be paid for."""


@dataclass(frozen=True)
class Stay:
    """A young person's time in one scheme (a placement, or a floating support episode): nights first_night..until-1;
    `until` is the day it ended, None while it runs. `hours_delivered` is the support given over a whole floating
    support episode, when the provider counts it."""

    stay_id: UUID
    case_id: UUID
    person_ref: UUID
    district: str
    placement_id: UUID | None
    scheme_id: UUID
    first_night: date
    until: date | None
    kind: Literal["placement", "floating_support"]
    hours_delivered: float | None = None

    def __post_init__(self) -> None:
        if self.until is not None and self.until < self.first_night:
            raise ValueError(f"stay {self.stay_id} ends on {self.until}, before its first night {self.first_night}")
        if self.hours_delivered is not None and self.hours_delivered < 0:
            raise ValueError(f"stay {self.stay_id} has negative hours delivered")

    def nights(self, first_day: date, last_day: date) -> Iterator[date]:
        """The stay's nights from first_day to last_day (both included)."""
        night = max(self.first_night, first_day)
        last = last_day if self.until is None else min(last_day, self.until - ONE_DAY)
        while night <= last:
            yield night
            night += ONE_DAY


@dataclass(frozen=True)
class DatedPackage:
    effective_from: date
    package: Package


@dataclass(frozen=True)
class DatedFunding:
    effective_from: date
    funding: tuple[FundingShare, ...]

    def __post_init__(self) -> None:
        check_shares(list(self.funding))


@dataclass(frozen=True)
class Contract:
    """A contract as the finance read model knows it: its prices and funding shares each from a day on (kept in date
    order). `ends_on` is its last day (None: open-ended). A block contract is priced per unit-week."""

    contract_id: UUID
    provider_id: UUID
    name: str
    procurement: Procurement
    service_type: ServiceType
    scheme_ids: frozenset[UUID]
    starts_on: date
    ends_on: date | None
    contracted_units: int | None
    basis: PriceBasis
    prices: tuple[DatedPackage, ...]
    funding: tuple[DatedFunding, ...]
    payment_by_results: PaymentByResults | None
    _price_days: tuple[date, ...] = field(init=False, repr=False, compare=False)
    _funding_days: tuple[date, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.ends_on is not None and self.ends_on < self.starts_on:
            raise ValueError(f"contract {self.name!r} ends on {self.ends_on}, before it starts on {self.starts_on}")
        if self.procurement.is_block and not self.contracted_units:
            raise ValueError(f"block contract {self.name!r} says no contracted_units")
        if self.procurement.is_block and self.basis is not PriceBasis.per_unit_week:
            raise ValueError(f"block contract {self.name!r} is not priced per unit-week")
        for name, days_name in (("prices", "_price_days"), ("funding", "_funding_days")):
            ordered = tuple(sorted(getattr(self, name), key=lambda item: item.effective_from))
            days = tuple(item.effective_from for item in ordered)
            if not days or days[0] > self.starts_on:
                raise ValueError(f"contract {self.name!r} has no {name} in force on its first day {self.starts_on}")
            if len(set(days)) != len(days):
                raise ValueError(f"contract {self.name!r} has two {name} from the same day")
            object.__setattr__(self, name, ordered)
            object.__setattr__(self, days_name, days)

    def covers(self, scheme_id: UUID, day: date) -> bool:
        return (scheme_id in self.scheme_ids and self.starts_on <= day
                and (self.ends_on is None or day <= self.ends_on))

    def package_on(self, day: date) -> Package:
        return self.prices[self._price_index(day)].package

    def funding_on(self, day: date) -> tuple[FundingShare, ...]:
        return self.funding[self._funding_index(day)].funding

    def billable(self, package: Package) -> tuple[int, int, int]:
        """Rent, service charge and support the council pays per unit-week: a block subsidy pays no rent (the
        provider collects it), so its rent is 0."""
        rent = 0 if self.procurement is Procurement.block_subsidy else package.rent
        return rent, package.service_charge, package.support

    def days_within(self, first_day: date, last_day: date) -> int:
        """How many of the days first_day..last_day the contract runs."""
        last = last_day if self.ends_on is None else min(last_day, self.ends_on)
        return max(0, (last - max(first_day, self.starts_on)).days + 1)

    def _price_index(self, day: date) -> int:
        return _in_force(self._price_days, day, self.name)

    def _funding_index(self, day: date) -> int:
        return _in_force(self._funding_days, day, self.name)


@dataclass(frozen=True)
class Accrual:
    """What one stay cost in one calendar month under one contract (or under none: `contract_id` None, cost zero,
    `unfunded_days` = its nights). `cost` includes `held_back`, the payment-by-results share of its support not yet
    released. `hours` is the support hours priced here (a per-support-hour contract, in the month the support
    ended); `uncosted` says why the days carry no cost, None when they are costed."""

    stay_id: UUID
    case_id: UUID
    person_ref: UUID
    district: str
    placement_id: UUID | None
    scheme_id: UUID
    contract_id: UUID | None
    month: date
    days: int
    cost: CostPart
    held_back: int
    unfunded_days: int
    hours: float | None = None
    uncosted: Uncosted | None = None


@dataclass(frozen=True)
class BlockCost:
    """What a block contract costs over a period whatever its occupancy, and the part of it paid for empty units."""

    contract_id: UUID
    contracted_unit_days: int
    occupied_unit_days: int
    contract_value: int
    void_unit_days: int
    void_cost: int


@dataclass(frozen=True)
class UnitCost:
    """Cost per person per week (pence) of the whole package and of its support alone, side by side, over the
    costed person-days; and, where support was paid by the hour, per hour of support. None: nothing to divide by."""

    people: int
    days: int
    whole: int
    support: int
    whole_per_week: int | None
    support_per_week: int | None
    hours: float
    support_per_hour: int | None


def contract_covering(contracts: Iterable[Contract], scheme_id: UUID, day: date) -> Contract | None:
    """The contract covering the scheme on the day, if any. Two covering it is corrupt input (the store refuses it):
    a ValueError naming both."""
    found = [contract for contract in contracts if contract.covers(scheme_id, day)]
    if len(found) > 1:
        first, second = found[:2]
        raise ValueError(f"contracts {first.name!r} ({first.contract_id}) and {second.name!r} ({second.contract_id}) "
                         f"both cover scheme {scheme_id} on {day}")
    return found[0] if found else None


def accrue(stays: Iterable[Stay], contracts: Iterable[Contract], first_day: date, last_day: date, *,
           released: frozenset[UUID] = frozenset()) -> list[Accrual]:
    """One Accrual per stay, per calendar month with nights in first_day..last_day, per contract covering them.

    - Per unit-week: each night costs a seventh of the package in force that night, split by the funding shares in
      force that night. Block contracts accrue the same way per occupied night, so a case's journey has a cost (the
      block's own total is `block_cost`); a block subsidy accrues no rent (rent is 0).
    - Per support hour: nothing before the support ends. Its months count their days at cost 0 (`costed_at_end`);
      the accrual of the month of `until` (if `until` is within the period, made with 0 days if no night falls in
      it) carries hours_delivered x the support price on the last night, under the contract covering that night.
      Hours unknown: that accrual has cost 0 and says `hours_unknown`.
    - Nights no contract covers: an accrual with contract_id None, cost 0 and unfunded_days = those nights.
    - Payment by results: the contract's share of the support part (rounded) is `held_back`, unless the stay is in
      `released`.
    """
    if last_day < first_day:
        raise ValueError(f"the period ends on {last_day}, before it starts on {first_day}")
    covering = _Covering(contracts)
    accruals: list[Accrual] = []
    for stay in stays:
        tallies: dict[tuple[date, UUID | None], _Tally] = {}
        for night in stay.nights(first_day, last_day):
            contract = covering(stay.scheme_id, night)
            key = (_month(night), contract.contract_id if contract else None)
            tally = tallies.setdefault(key, _Tally(contract))
            tally.days += 1
            if contract is not None and contract.basis is PriceBasis.per_unit_week:
                tally.nights[contract._price_index(night), contract._funding_index(night)] += 1
        if stay.until is not None and first_day <= stay.until <= last_day:
            last_night = max(stay.first_night, stay.until - ONE_DAY)
            contract = covering(stay.scheme_id, last_night)
            if contract is not None and contract.basis is PriceBasis.per_support_hour:
                tally = tallies.setdefault((_month(stay.until), contract.contract_id), _Tally(contract))
                tally.end = last_night
                tally.hours = stay.hours_delivered
        accruals.extend(tally.accrual(stay, month, stay.stay_id in released) for (month, _), tally in tallies.items())
    return accruals


def block_cost(contract: Contract, first_day: date, last_day: date, occupied_unit_days: int) -> BlockCost:
    """A block costs contracted_units x a seventh of its weekly package (a block subsidy without rent) each day it runs
    within first_day..last_day, however many units are occupied. Voids are the paid-for unit-days not occupied; their
    cost is their share of the contract value (the occupancy is a total, not day by day)."""
    if not contract.procurement.is_block:
        raise ValueError(f"contract {contract.name!r} is not a block contract ({contract.procurement})")
    if occupied_unit_days < 0:
        raise ValueError("occupied_unit_days is negative")
    units = contract.contracted_units or 0
    days: Counter[int] = Counter()
    day = max(first_day, contract.starts_on)
    for _ in range(contract.days_within(first_day, last_day)):
        days[contract._price_index(day)] += 1
        day += ONE_DAY
    value = sum((Fraction(units * count * sum(contract.billable(contract.prices[index].package)), WEEK)
                 for index, count in days.items()), Fraction(0))
    contracted = units * sum(days.values())
    void = max(0, contracted - occupied_unit_days)
    return BlockCost(contract_id=contract.contract_id, contracted_unit_days=contracted,
                     occupied_unit_days=occupied_unit_days, contract_value=_pence(value), void_unit_days=void,
                     void_cost=_pence(value * void / contracted) if contracted else 0)


def committed(stays: Iterable[Stay], contracts: Iterable[Contract], from_day: date, to_day: date) -> int:
    """Pence still to be paid for the days from_day..to_day (both included) at today's prices: each contract's package
    in force on from_day (or on its first day, if it starts later), later uplifts unknown. Block contracts count their
    full value (without rent for a block subsidy); open stays (until None) count each night a spot, framework or
    dynamic purchasing contract covers; nights in a block are in its value already. Not counted: ended stays,
    unfunded nights, and support paid by the hour (nobody knows the hours to come)."""
    contracts = list(contracts)
    covering = _Covering(contracts)
    nights: Counter[UUID] = Counter()
    for stay in stays:
        if stay.until is not None:
            continue
        for night in stay.nights(from_day, to_day):
            contract = covering(stay.scheme_id, night)
            if contract and not contract.procurement.is_block and contract.basis is PriceBasis.per_unit_week:
                nights[contract.contract_id] += 1
    total = Fraction(0)
    for contract in contracts:
        weekly = sum(contract.billable(contract.package_on(max(from_day, contract.starts_on))))
        if contract.procurement.is_block:
            total += Fraction((contract.contracted_units or 0) * contract.days_within(from_day, to_day) * weekly, WEEK)
        else:
            total += Fraction(nights[contract.contract_id] * weekly, WEEK)
    return _pence(total)


def _scheme(accrual: Accrual) -> UUID:
    return accrual.scheme_id


def unit_cost_per_week(accruals: Iterable[Accrual],
                       by: Callable[[Accrual], K] = _scheme) -> dict[K, UnitCost]:
    """Cost per person per week by scheme (or by whatever `by` gives: a provision type, a provider), whole package and
    support only: pence x 7 / costed person-days, half up. Costed days leave out unfunded and hours-unknown days, and
    count the days of a per-support-hour stay only when its costed end is among the accruals (its whole cost is
    there). Held-back pence are cost."""
    accruals = list(accruals)
    costed_at_end = {accrual.stay_id for accrual in accruals if accrual.hours is not None}
    groups: dict[K, list[Accrual]] = defaultdict(list)
    for accrual in accruals:
        groups[by(accrual)].append(accrual)
    costs: dict[K, UnitCost] = {}
    for key, group in groups.items():
        days = sum(accrual.days for accrual in group
                   if accrual.uncosted is None
                   or (accrual.uncosted == "costed_at_end" and accrual.stay_id in costed_at_end))
        whole = sum(accrual.cost.whole for accrual in group)
        support = sum(accrual.cost.support for accrual in group)
        hourly = [accrual for accrual in group if accrual.hours is not None]
        hours = sum((Fraction(str(accrual.hours)) for accrual in hourly), Fraction(0))
        costs[key] = UnitCost(
            people=len({accrual.person_ref for accrual in group}), days=days, whole=whole, support=support,
            whole_per_week=_pence(Fraction(whole * WEEK, days)) if days else None,
            support_per_week=_pence(Fraction(support * WEEK, days)) if days else None,
            hours=float(hours),
            support_per_hour=_pence(sum(accrual.cost.support for accrual in hourly) / hours) if hours else None)
    return costs


def split(total: int, shares: Mapping[K, int | Fraction] | Iterable[FundingShare]) -> dict[K, int]:
    """`total` pence shared in proportion to `shares` (weights by key, or funding shares by stream) by largest
    remainder: each gets the whole pence of its exact share, and the pence left over go one each to the largest
    remainders (ties to the earlier key), so the parts sum to `total` exactly."""
    weights: dict[K, Fraction]
    if isinstance(shares, Mapping):
        weights = {key: Fraction(weight) for key, weight in shares.items()}
    else:
        listed = list(shares)
        weights = {share.stream: Fraction(share.share) for share in listed}  # type: ignore[misc]
        if len(weights) != len(listed):
            raise ValueError("names a funding stream more than once")
    if any(weight < 0 for weight in weights.values()):
        raise ValueError("a share is negative")
    whole = sum(weights.values(), Fraction(0))
    if whole == 0:
        if total:
            raise ValueError(f"cannot share {total} pence between no shares")
        return {key: 0 for key in weights}
    exact = {key: total * weight / whole for key, weight in weights.items()}
    parts = {key: math.floor(amount) for key, amount in exact.items()}
    left = total - sum(parts.values())
    for key in sorted(exact, key=lambda key: exact[key] - parts[key], reverse=True)[:left]:
        parts[key] += 1
    return parts


# -- internals ----------------------------------------------------------------------------------


def _pence(amount: Fraction) -> int:
    """To the nearest penny, half up."""
    return math.floor(amount + Fraction(1, 2))


def _month(day: date) -> date:
    return day.replace(day=1)


def _in_force(days: Sequence[date], day: date, name: str) -> int:
    index = bisect_right(days, day) - 1
    if index < 0:
        raise ValueError(f"contract {name!r} has nothing in force on {day}")
    return index


class _Covering:
    """contract_covering over the contracts naming the scheme, found by scheme once."""

    def __init__(self, contracts: Iterable[Contract]) -> None:
        self._by_scheme: dict[UUID, list[Contract]] = defaultdict(list)
        for contract in contracts:
            for scheme_id in contract.scheme_ids:
                self._by_scheme[scheme_id].append(contract)

    def __call__(self, scheme_id: UUID, day: date) -> Contract | None:
        return contract_covering(self._by_scheme.get(scheme_id, ()), scheme_id, day)


@dataclass
class _Tally:
    """One accrual in the making: its nights counted by (price, funding) in force, and a per-hour end if any."""

    contract: Contract | None
    days: int = 0
    nights: Counter[tuple[int, int]] = field(default_factory=Counter)
    end: date | None = None
    hours: float | None = None

    def accrual(self, stay: Stay, month: date, released: bool) -> Accrual:
        common = {"stay_id": stay.stay_id, "case_id": stay.case_id, "person_ref": stay.person_ref,
                  "district": stay.district, "placement_id": stay.placement_id, "scheme_id": stay.scheme_id,
                  "month": month, "days": self.days}
        contract = self.contract
        if contract is None:
            return Accrual(**common, contract_id=None, cost=CostPart(), held_back=0, unfunded_days=self.days,
                           uncosted="unfunded")
        parts = [Fraction(0)] * 3
        streams: dict[FundingStream, Fraction] = defaultdict(Fraction)
        for (price, funding), count in self.nights.items():
            billable = contract.billable(contract.prices[price].package)
            for index, weekly in enumerate(billable):
                parts[index] += Fraction(count * weekly, WEEK)
            for share in contract.funding[funding].funding:
                streams[share.stream] += Fraction(count * sum(billable) * share.share, WEEK * ALL)
        uncosted: Uncosted | None = None
        if contract.basis is PriceBasis.per_support_hour:
            uncosted = "costed_at_end"
        if self.end is not None:
            if self.hours is None:
                uncosted = "hours_unknown"
            else:
                uncosted = None
                support = Fraction(str(self.hours)) * contract.package_on(self.end).support
                parts[2] += support
                for share in contract.funding_on(self.end):
                    streams[share.stream] += support * share.share / ALL
        rent, service_charge, support_part = (_pence(part) for part in parts)
        whole = rent + service_charge + support_part
        cost = CostPart(rent=rent, service_charge=service_charge, support=support_part,
                        by_stream=split(whole, streams) if streams else {})
        pbr = contract.payment_by_results
        held_back = 0 if pbr is None or released else _pence(Fraction(support_part * pbr.share, ALL))
        return Accrual(**common, contract_id=contract.contract_id, cost=cost, held_back=held_back, unfunded_days=0,
                       hours=self.hours if self.end is not None else None, uncosted=uncosted)
