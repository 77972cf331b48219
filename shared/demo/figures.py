"""The demo county's figures, read back from casetrack after a run (never from what the simulator meant to send):
KPI1 and KPI2 from the outcomes service, B&B nights from the journeys' status read model, breakdowns and cost per
planned move-on by pathway from the pathway map. `compare` sets two runs' figures side by side (`casetrack demo
--compare base.yaml changed.yaml`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx

from shared.settings import Settings


@dataclass(frozen=True)
class CountyFigures:
    young_people: int
    kpi1: dict[str, Any]
    kpi2: dict[str, Any]
    bed_and_breakfast_nights: int
    placements: int | None
    breakdowns_per_100_placements: float | None
    cost_per_planned_move_on_pence: int | None
    pathways: list[dict[str, Any]] = field(default_factory=list)
    """The pathway map's shown variants, most young people first."""


def read_figures(settings: Settings, after: dict[str, list[str]], first_day: date, last_day: date,
                 token: str) -> CountyFigures:
    """The county's figures as casetrack computes them, once its read models have what was sent (`after`: the
    write positions each service's reads wait for)."""
    headers = {"Authorization": f"Bearer {token}"}
    period = {"first_day": first_day.isoformat(), "last_day": last_day.isoformat()}
    outcomes, journeys = settings.url_of("outcomes"), settings.url_of("journeys")
    with httpx.Client(headers=headers, timeout=300) as http:
        kpi = {name: _ok(http.get(f"{outcomes}/{name}", params={**period, "after": after["outcomes"]}))["figures"][0]
               for name in ("kpi1", "kpi2")}
        pathway = _ok(http.get(f"{journeys}/pathway-map", params={"after": after["journeys"]}))
        nights = 0
        start = first_day
        while start <= last_day:  # the route counts at most three years at a time: a year at a time here
            end = min(last_day, date.fromordinal(start.toordinal() + 364))
            nights += sum(row["nights"] for row in _ok(http.get(
                f"{journeys}/bed-and-breakfast-nights-by-age", params={"start": start.isoformat(),
                                                                      "end": end.isoformat()}))["nights"])
            start = date.fromordinal(end.toordinal() + 1)
    total = pathway["total"]
    return CountyFigures(
        young_people=total["young_people"] or 0, kpi1=kpi["kpi1"], kpi2=kpi["kpi2"], bed_and_breakfast_nights=nights,
        placements=total.get("placements"), breakdowns_per_100_placements=total.get("breakdowns_per_100_placements"),
        cost_per_planned_move_on_pence=total.get("cost_per_planned_move_on_pence"),
        pathways=sorted((v for v in pathway["variants"] if not v["suppressed"]), key=lambda v: -v["young_people"]))


def _ok(answer: httpx.Response) -> dict[str, Any]:
    if answer.status_code != 200:
        raise RuntimeError(f"{answer.request.method} {answer.request.url.path} answered {answer.status_code}: "
                           f"{answer.text[:500]}")
    return answer.json()


def compare(base: CountyFigures, changed: CountyFigures) -> list[tuple[str, str, str, str]]:
    """Each compared figure: its name, the base run's, the changed run's and the difference."""
    def pounds(pence: int | None) -> str:
        return "-" if pence is None else f"£{pence / 100:,.0f}"

    def difference(a: float | None, b: float | None, unit: str = "", money: bool = False) -> str:
        if a is None or b is None:
            return "-"
        change = b - a
        return f"{'+' if change >= 0 else '-'}{pounds(abs(round(change)))}" if money else f"{change:+,.1f}{unit}"

    rows = [
        ("young people", f"{base.young_people:,}", f"{changed.young_people:,}",
         difference(base.young_people, changed.young_people)),
        ("KPI2: planned move-ons %", f"{base.kpi2['percent']}", f"{changed.kpi2['percent']}",
         difference(base.kpi2["percent"], changed.kpi2["percent"], " points")),
        ("B&B nights", f"{base.bed_and_breakfast_nights:,}", f"{changed.bed_and_breakfast_nights:,}",
         difference(base.bed_and_breakfast_nights, changed.bed_and_breakfast_nights)),
        ("breakdowns per 100 placements", f"{base.breakdowns_per_100_placements}",
         f"{changed.breakdowns_per_100_placements}",
         difference(base.breakdowns_per_100_placements, changed.breakdowns_per_100_placements)),
        ("cost per planned move-on", pounds(base.cost_per_planned_move_on_pence),
         pounds(changed.cost_per_planned_move_on_pence),
         difference(base.cost_per_planned_move_on_pence, changed.cost_per_planned_move_on_pence, money=True)),
    ]
    return rows
