"""The journey map page for analysts and commissioners, and the one route it reads beyond the pathway map and a young
person's journey: a shown variant's pseudonymous journeys (GET /pathway-map/journeys).

The page draws the pathway map's transitions as a Sankey, its variant table with the total, cost and outcome by
pathway and a filter bar, and drills down from a variant to its journeys and from a journey to its steps. The page
and its files hold no data and anyone may fetch them; every figure comes from a route that takes a bearer token, which
the page reads from the URL fragment (`#token=...`, never sent to a server) or a field. Plotly's JavaScript comes from
the installed `plotly` package, so the page fetches nothing from another host (its Content-Security-Policy says so).
"""

from __future__ import annotations

import hashlib
import html
import importlib.metadata
import importlib.util
from datetime import date
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse

from services.journeys.api.pathways import PathwayReader
from services.journeys.pathway_queries import FLAGS_FOR_ANALYSTS, Chosen
from services.journeys.summaries import AGE_BANDS, journeys_of_variant, pathway_map_of
from shared.auth import PUBLIC
from shared.contracts.envelope import Day
from shared.contracts.vocabulary import Cohort, Gateway, LegalStatus
from shared.districts import district_register
from shared.errors import NotFound
from shared.service import After
from shared.web import District, Runtime, Today

router = APIRouter(tags=["pathways"])

STATIC = Path(__file__).resolve().parent.parent / "static"
VARIANT_SEPARATOR = " > "
LONG_CACHE = "public, max-age=31536000, immutable"
"""Every file the page loads is named with its version or content hash (`?v=`), so a browser may keep it a year."""
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
"""Scripts and requests from the service alone; Plotly sets inline styles on what it draws."""


class VariantSuppressed(NotFound):
    """The variant is suppressed in the pathway map of these filters (fewer than the small-number threshold of young
    people, or hidden with such a group): its journeys are not listed."""


class VariantNotInMap(NotFound):
    """No young person of these filters took this variant."""


# -- a variant's journeys -------------------------------------------------------------------------------------------


@router.get("/pathway-map/journeys", responses={404: {"description": "the variant is suppressed or not in the map"}})
async def get_variant_journeys(
    runtime: Runtime, caller: PathwayReader, today: Today, district: District,
    variant: Annotated[str, Query(min_length=1, max_length=2000,
                                  description="The variant's labels joined by ' > ', as the pathway map's CSV gives "
                                              "it, e.g. `presentation > assessment > panel > supported:foyer`")],
    cohort: Annotated[Cohort | None, Query(description="The cohort at referral")] = None,
    gateway: Annotated[Gateway | None, Query(description="The gateway of the referral")] = None,
    referred_from: Annotated[Day | None, Query(description="Referrals from this day (UTC)")] = None,
    referred_to: Annotated[Day | None, Query(description="Referrals up to this day (UTC, included)")] = None,
    as_of: Annotated[Day | None, Query(description="As known at the end of this day: steps recorded later are "
                                                   "left out")] = None,
    flag: Annotated[Literal["uasc", "teenage_parent", "youth_justice"] | None,
                    Query(description="Journeys with this flag raised (never a safeguarding flag)")] = None,
    legal_status: Annotated[LegalStatus | None, Query(description="The legal status on the day of the referral")]
    = None,
    age_band: Annotated[Literal["16-17", "18-21", "22-25"] | None,
                        Query(description="The age band on the day of the referral")] = None,
    area: Annotated[str | None, Query(description="A commissioning area of the district register (e.g. east-kent): "
                                                  "young people first referred in its districts")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many journeys (longest first)")] = 50,
    after: After = None,
) -> dict[str, Any]:
    """The pseudonymous journeys of one variant of the pathway map with the same filters: each young person's
    `person_ref`, days end to end, whether the journey is open and its cost (pence), longest first. A variant the map
    suppresses (small numbers) is a 404, as is one nobody took, so no one can list a small group."""
    if referred_from and referred_to and referred_to < referred_from:
        raise HTTPException(422, [{"loc": ["query", "referred_to"], "type": "range_not_allowed",
                                   "msg": "referred_to is on or after referred_from"}])
    if area is not None and area not in district_register().areas:
        raise HTTPException(422, [{"loc": ["query", "area"], "type": "unknown_area",
                                   "msg": "not a commissioning area of the district register "
                                          f"({', '.join(sorted(district_register().areas))})"}])
    chosen = Chosen(district=caller.district_filter(district), cohort=cohort.value if cohort else None,
                    gateway=gateway.value if gateway else None, referred_from=referred_from,
                    referred_to=referred_to, as_of=as_of, flag=flag,
                    legal_status=legal_status.value if legal_status else None, age_band=age_band, area=area)
    await runtime.wait_for_positions(after or [], "journeys")
    async with runtime.pool.acquire() as conn:
        return await variant_journeys(conn, chosen, tuple(variant.split(VARIANT_SEPARATOR)), limit=limit,
                                      threshold=runtime.settings.small_number_threshold, today=today,
                                      schema=runtime.schema)


async def variant_journeys(conn: asyncpg.Connection, chosen: Chosen, variant: tuple[str, ...], *, limit: int,
                           threshold: int, today: date, schema: str = "journeys") -> dict[str, Any]:
    """A shown variant's journeys in the pathway map of the chosen young people, longest first, at most `limit`;
    VariantSuppressed or VariantNotInMap otherwise."""
    pathways = await pathway_map_of(conn, chosen, threshold=threshold, today=today, schema=schema)
    shown = {row.variant: row for row in pathways.variants if not row.suppressed}
    taken, journeys = await journeys_of_variant(conn, chosen, variant, limit=limit, today=today, schema=schema)
    if variant not in shown:
        if taken:
            raise VariantSuppressed(f"this variant is suppressed in the pathway map of these filters (fewer than "
                                    f"{threshold} young people, or hidden with such a group): its journeys are not "
                                    "listed")
        raise VariantNotInMap("no young person of these filters took this variant")
    return {"variant": list(variant), "young_people": shown[variant].young_people, "journeys": journeys}


# -- the page -------------------------------------------------------------------------------------------------------


@cache
def plotly_js() -> tuple[Path, str]:
    """The installed plotly package's own plotly.min.js, and the package's version."""
    spec = importlib.util.find_spec("plotly")  # found, not imported: the page needs the file alone
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the plotly package is not installed: `pip install -c constraints.txt -e .`")
    return (Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js",
            importlib.metadata.version("plotly"))


@cache
def page_files() -> dict[str, tuple[Path, str, str]]:
    """Each file the page loads by name: its path, media type and version (what its URL's `?v=` says)."""
    def own(name: str, media_type: str) -> tuple[Path, str, str]:
        path = STATIC / name
        return path, media_type, hashlib.sha256(path.read_bytes()).hexdigest()[:16]

    plotly_path, plotly_version = plotly_js()
    return {"plotly.min.js": (plotly_path, "text/javascript; charset=utf-8", plotly_version),
            "journey-map.js": own("journey-map.js", "text/javascript; charset=utf-8"),
            "journey-map.css": own("journey-map.css", "text/css; charset=utf-8")}


def options(choices: list[tuple[str, str]]) -> str:
    return "".join(f'<option value="{html.escape(value)}">{html.escape(label)}</option>' for value, label in choices)


def page_html() -> str:
    """The page with its files' versioned URLs and the filters' choices (the district register in force, the
    vocabularies): no data."""
    register = district_register()
    choices = {
        "district": sorted(((code, name) for code, name in register.names().items()), key=lambda c: c[1].lower()),
        "area": sorted(register.areas.items(), key=lambda choice: choice[1].lower()),
        "cohort": [(c.value, c.value.replace("_", " ")) for c in Cohort],
        "legal_status": [(s.value, s.value.replace("_", " ")) for s in LegalStatus],
        "age_band": [(band, band) for band in AGE_BANDS],
        "gateway": [(g.value, g.value.replace("_", " ")) for g in Gateway],
        "flag": [(f.value, f.value.replace("_", " ")) for f in FLAGS_FOR_ANALYSTS],
    }
    page = (STATIC / "journey-map.html").read_text(encoding="utf-8")
    for name, (_, _, version) in page_files().items():
        page = page.replace("{{" + name + "}}", f"journey-map/files/{name}?v={version}")
    for name, choice in choices.items():
        page = page.replace("{{" + name + "_options}}", options(choice))
    return page


@router.get("/journey-map", dependencies=[PUBLIC], include_in_schema=False, response_class=HTMLResponse)
async def get_journey_map_page() -> HTMLResponse:
    """The journey map page (no data: it reads the pathway map with the caller's token)."""
    return HTMLResponse(page_html(), headers={"Content-Security-Policy": PAGE_POLICY,
                                              "Referrer-Policy": "no-referrer"})


@router.get("/journey-map/files/{name}", dependencies=[PUBLIC], include_in_schema=False)
async def get_journey_map_file(name: str) -> FileResponse:
    """A file of the journey map page: its script, its styles, or Plotly's JavaScript."""
    if name not in page_files():
        raise HTTPException(404, "the journey map page has no such file")
    path, media_type, _ = page_files()[name]
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": LONG_CACHE})
