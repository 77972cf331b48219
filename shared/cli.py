"""The `casetrack` command: `casetrack up` runs the whole system; `casetrack service NAME` runs one service."""

from __future__ import annotations

import importlib
import signal
import threading
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shared.settings import SERVICES, Settings

if TYPE_CHECKING:
    from shared.devservers import System

app = typer.Typer(help="casetrack: event-sourced case tracking for young people's accommodation pathways.",
                  no_args_is_help=True, add_completion=False)
console = Console()
err = Console(stderr=True, soft_wrap=True)

SETTINGS_HELP = """
Settings (environment variables):

  CASETRACK_DATA_DIR       where the embedded servers keep their data (default ./.casetrack)\n
  CASETRACK_HOST           address services listen on (default 127.0.0.1)\n
  CASETRACK_BASE_PORT      services listen on BASE+1..BASE+5: referral, placement, outcomes, finance,
                           journeys (default 8100)\n
  CASETRACK_NATS_URL       use these NATS servers (comma-separated) instead of starting nats-server\n
  CASETRACK_NATS_PORT      port of the embedded nats-server (default 4222)\n
  CASETRACK_NATS_CREDENTIALS  a JSON file with this process's NATS user and password (casetrack up sets it)\n
  CASETRACK_NATS_CA_FILE   connect to NATS over TLS, trusting this CA\n
  CASETRACK_DATABASE_URL   use this PostgreSQL instead of starting the embedded one\n
  CASETRACK_POSTGRES_PORT  port of the embedded PostgreSQL (default 5433)\n
  CASETRACK_STREAM_REPLICAS  JetStream replicas per stream (default 1; 3 in docker-compose)\n
  CASETRACK_OTLP_ENDPOINT  send traces and metrics to this OTLP gRPC endpoint (default: not exported)\n
  CASETRACK_LOG_DIR        write each service's JSON log to LOG_DIR/<service>.log, rotated at 10 MB, 5 kept
                           (default: JSON lines on stderr)\n
  CASETRACK_MAX_DELIVER    deliveries of a message before a consumer dead-letters it (default 5)\n
  CASETRACK_DISTRICT_REGISTER_FILE  the district register (TOML) in force (default: the shipped one; see
                           `casetrack districts`)\n
  CASETRACK_ENVIRONMENT    development, test or production (production refuses placeholder secrets)
"""


def load_settings() -> Settings:
    """The settings, with the district register they name put in force; one line and exit 2 if either is bad."""
    from rich.markup import escape

    from shared.districts import DistrictRegisterInvalid, load_district_register

    try:
        settings = Settings()
    except ValidationError as error:
        err.print(f"[red]casetrack: bad settings:[/red] {error.errors()[0]['msg']}")
        raise typer.Exit(2) from None
    try:
        load_district_register(settings)
    except DistrictRegisterInvalid as error:
        err.print(f"[red]casetrack: bad district register:[/red] {escape(str(error))}", highlight=False)
        raise typer.Exit(2) from None
    return settings


@app.command(help="Start NATS, PostgreSQL and every service, restart whatever dies or freezes; stop them all "
                  "(services first, NATS last) on Ctrl-C or SIGTERM.\n" + SETTINGS_HELP)
def up() -> None:
    from rich.markup import escape

    from shared.devservers import EngineFailed, System  # development servers: only `up` starts them

    settings = load_settings()
    system = System(settings, say=lambda line: err.print(f"[yellow]{escape(line)}[/yellow]", highlight=False))
    stopping = threading.Event()
    for ending in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # SIGHUP: its terminal was closed
        signal.signal(ending, lambda *_: stopping.set())
    try:
        with console.status("starting NATS, PostgreSQL and the services..."):
            system.start(supervise=True)
    except EngineFailed as error:
        err.print(f"[red]casetrack: {error}[/red]")
        raise typer.Exit(1) from None
    try:  # the children run in sessions of their own: whatever happens here, they are stopped
        show_urls(system)
        while not stopping.wait(1.0):  # the supervisor's thread does the watching; this one waits for a signal
            pass
        console.print("stopping casetrack...")
    finally:
        system.stop()
    console.print("stopped.")


def show_urls(system: System) -> None:
    table = Table(title="casetrack is up")
    table.add_column("part")
    table.add_column("address")
    table.add_column("log")
    table.add_row("NATS", system.nats_url, str(system.nats.log) if system.nats else "(external)")
    table.add_row("PostgreSQL", system.shown_database_url,
                  str(system.postgres.log) if system.postgres else "(external)")
    for name, service in system.services.items():
        table.add_row(name, f"{service.url}/docs", str(service.log))
    console.print(table)
    console.print(f"Whatever dies or stops answering is restarted, with a line in {system.journal.path}",
                  highlight=False)
    referral = system.services["referral"].url if "referral" in system.services else ""
    console.print("Try a referral (every route but /health and /ready takes a bearer token: `casetrack token`):")
    console.print(
        f"  curl -s -X POST {referral}/referrals -H 'content-type: application/json'"
        " -H \"Authorization: Bearer $(casetrack token --role childrens_services)\" -d "
        "'{\"district\": \"preston\", \"gateway\": \"district_housing_options\", \"cohort\": \"homeless_16_17\","
        " \"presenting_reason\": \"parental_eviction\", \"young_person\": {\"given_name\": \"Sam\","
        " \"family_name\": \"Example\", \"date_of_birth\": \"2009-03-14\"},"
        " \"occurred_at\": \"2026-11-20T10:00:00Z\"}'",
        soft_wrap=True, highlight=False)
    if "journeys" in system.services:
        console.print(f"then open {system.services['journeys'].url}/journeys/<case_id>?after=<position>",
                      highlight=False)
    console.print("Ctrl-C stops everything; data is kept in " + str(system.settings.data_dir))


@app.command(help="Run one service in this process (casetrack up runs each this way).\n" + SETTINGS_HELP)
def service(name: Annotated[str, typer.Argument(help=f"one of: {', '.join(SERVICES)}")]) -> None:
    import uvicorn

    if name not in SERVICES:
        err.print(f"casetrack: unknown service {name!r}; choose one of {', '.join(SERVICES)}")
        raise typer.Exit(2)
    settings = load_settings()
    if not settings.nats_url or not settings.database_url:
        err.print("casetrack: a service needs CASETRACK_NATS_URL and CASETRACK_DATABASE_URL (casetrack up sets them)")
        raise typer.Exit(2)
    try:
        settings.require_secrets_of(name)
    except ValueError as error:
        err.print(f"casetrack: {error}")
        raise typer.Exit(2) from None
    from shared.logs import configure_logging
    from shared.telemetry import configure_metrics, configure_tracing

    configure_logging(name, settings)
    configure_tracing(name, settings)
    configure_metrics(name, settings)
    bootstrap = importlib.import_module(f"services.{name}.bootstrap")
    port = settings.service_port or settings.port_of(name)
    # On SIGTERM uvicorn stops accepting, lets requests in flight finish (up to shutdown_grace_seconds), then
    # runs the lifespan's stop (up to shutdown_drain_seconds more, then 2 s to close connections): the process
    # exits within 10 s by default. uvicorn raises the signal again once it has stopped: a clean stop, exit code 0.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _stopped_cleanly)
    config = uvicorn.Config(bootstrap.build(settings), host=settings.service_host, port=port, log_config=None,
                            log_level=settings.log_level.lower(), access_log=settings.access_log,
                            timeout_graceful_shutdown=settings.shutdown_grace_seconds)
    server_stopping_in_time(config, settings.shutdown_grace_seconds + settings.shutdown_drain_seconds + 2.5).run()


def server_stopping_in_time(config, limit_seconds: float):
    """uvicorn's server, with a last resort: a process still stopping `limit_seconds` after it was asked to (a
    step stuck on a frozen server) exits anyway, with code 1; what it held is taken up at the next start."""
    import uvicorn

    class StoppingInTime(uvicorn.Server):
        def handle_exit(self, sig: int, frame: object) -> None:
            if not self.should_exit:
                watchdog = threading.Timer(limit_seconds, _stopped_late, args=(limit_seconds,))
                watchdog.daemon = True
                watchdog.start()
            super().handle_exit(sig, frame)

    return StoppingInTime(config)


def _stopped_late(limit_seconds: float) -> None:
    import logging
    import os

    logging.getLogger("shared.cli").error("still stopping after %.1f s: exiting anyway", limit_seconds)
    logging.shutdown()
    os._exit(1)


def _stopped_cleanly(*_: object) -> None:
    raise SystemExit(0)


@app.command(help="Create the JetStream streams, or bring them up to date, as the NATS administrator (casetrack up "
                  "does it itself; a deployment runs this once NATS is up, with CASETRACK_NATS_CREDENTIALS naming "
                  "the administrator's credentials).\n" + SETTINGS_HELP)
def streams() -> None:
    import asyncio

    from shared.nats_access import connect_options
    from shared.streams import create_streams

    settings = load_settings()
    options = connect_options(settings)
    servers = settings.nats_servers if settings.nats_url else [f"nats://{settings.host}:{settings.nats_port}"]
    if not settings.nats_url and not settings.nats_credentials:
        from shared.devservers.nats_users import admin_credentials

        options = admin_credentials(settings.data_dir).connect_options()
    try:
        asyncio.run(create_streams(servers, settings.stream_replicas, **options))
    except Exception as error:  # noqa: BLE001 - one line for the operator
        err.print(f"[red]casetrack: could not create the streams on {', '.join(servers)}: "
                  f"{type(error).__name__} {error}[/red]")
        raise typer.Exit(1) from None
    console.print("the streams exist", highlight=False)


credentials_app = typer.Typer(help="Issue NATS credentials.", no_args_is_help=True)
app.add_typer(credentials_app, name="credentials")


@credentials_app.command("district", help="Issue a district's NATS credentials for the embedded server of "
                                          "casetrack up (the same ones again once issued), print them as JSON and "
                                          "let a running server know them at once.")
def district_credentials(
    name: Annotated[str, typer.Argument(help="the district, e.g. preston")],
    file: Annotated[str | None, typer.Option(help="also write them to this file (owner-only)")] = None,
) -> None:
    import os
    from pathlib import Path

    from shared.contracts.vocabulary import UnknownDistrict

    settings = load_settings()
    try:
        credentials = issued_to(settings, name)
    except UnknownDistrict as error:
        err.print(f"casetrack: {error}")
        raise typer.Exit(2) from None
    if file:
        descriptor = os.open(Path(file), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as written:
            written.write(credentials.as_json())
    console.print_json(credentials.as_json().decode())


def issued_to(settings: Settings, district: str):
    """Issue a district's credentials for the embedded nats-server and, if it is running, have it reload its
    configuration so the district can connect at once; the credentials, with the server's address."""
    from shared.devservers import RunFolder
    from shared.devservers.nats_users import issue_district_credentials
    from shared.devservers.system import embedded_nats

    credentials = issue_district_credentials(settings.data_dir, district)
    nats = embedded_nats(settings)
    running = RunFolder(settings.data_dir / "run").left_over(nats.name, nats.is_ours)
    nats.write_config()
    if running is not None:
        nats.reload(running)
    return credentials.with_servers([settings.nats_url or nats.url])


@app.command(help="Make a CA and the NATS servers' certificate (nats-1..3, localhost) in FOLDER, for "
                  "docker-compose.yml (kept if already there).")
def certificates(folder: Annotated[str, typer.Argument(help="e.g. deploy/secrets")]) -> None:
    from pathlib import Path

    from shared.deploy_secrets import make_certificates

    for path in make_certificates(Path(folder)):
        console.print(f"wrote {path}", highlight=False)


@app.command(help="Make a deployment's service keys in FOLDER (vault, placement id and idempotency keys, a token "
                  "signing key pair), kept once made, owner-only. docker-compose.yml gives each service its own.")
def keys(folder: Annotated[str, typer.Argument(help="e.g. deploy/secrets")]) -> None:
    from pathlib import Path

    from shared.deploy_secrets import make_service_keys

    for path in make_service_keys(Path(folder)):
        console.print(f"wrote {path}", highlight=False)


@app.command("nats-users", help="Make the NATS users of a deployment in FOLDER: each one's credentials "
                                "(nats-<user>.json, kept once made) and nats-users.conf for the servers.")
def nats_users(
    folder: Annotated[str, typer.Argument(help="e.g. deploy/secrets")],
    district: Annotated[list[str] | None, typer.Option(help="a district to issue credentials to (repeatable)")]
    = None,
) -> None:
    from pathlib import Path

    from shared.contracts.vocabulary import UnknownDistrict
    from shared.deploy_secrets import make_nats_users

    load_settings()  # the district register in force names the districts
    try:
        written = make_nats_users(Path(folder), district or [])
    except UnknownDistrict as error:
        err.print(f"casetrack: {error}")
        raise typer.Exit(2) from None
    for path in written:
        console.print(f"wrote {path}", highlight=False)


@app.command(help="Show the district register in force (CASETRACK_DISTRICT_REGISTER_FILE, or the shipped one): each "
                  "district's code (its NATS subject token), name, council, commissioning areas, the days it is in "
                  "force, its successors and its local rules. An administrator changes the register by editing the "
                  "file and restarting casetrack.")
def districts(
    on: Annotated[str | None, typer.Option(help="a day (YYYY-MM-DD): only the districts in force that day, with "
                                                "their rules that day (default: every district ever, rules today)")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    import json
    from datetime import UTC, date, datetime

    from shared.districts import district_register

    load_settings()
    try:
        day = date.fromisoformat(on) if on else datetime.now(UTC).date()
    except ValueError:
        err.print(f"casetrack: --on takes a day as YYYY-MM-DD, not {on!r}")
        raise typer.Exit(2) from None
    register = district_register()
    shown = register.on(day) if on else [register.districts[code] for code in sorted(register.districts)]
    rows = []
    for district in shown:
        council = register.counties[district.county].name if district.county else "unitary"
        rows.append({
            "code": district.code, "name": district.name, "council": council,
            "areas": [register.areas[area] for area in district.areas],
            "from": district.in_force_from.isoformat(),
            "until": district.in_force_until.isoformat() if district.in_force_until else None,
            "successors": list(district.successors), "change": district.change,
            "routes_needing_panel": sorted(register.rules(district.code, day).routes_needing_panel),
        })
    if as_json:
        print(json.dumps({"register": str(register.source), "day": day.isoformat(), "districts": rows}, indent=2))
        return
    table = Table(title=f"casetrack districts {'in force on ' + day.isoformat() if on else '(every code ever)'}",
                  caption=f"{register.source}; routes needing a panel on {day.isoformat()}")
    for column in ("code", "name", "council", "areas", "from", "until", "successors", "routes needing a panel"):
        table.add_column(column)
    for row in rows:
        successors = ", ".join(row["successors"]) + (f" ({row['change']})" if row["change"] else "")
        table.add_row(row["code"], row["name"], row["council"], ", ".join(row["areas"]), row["from"],
                      row["until"] or "", successors.strip(), ", ".join(row["routes_needing_panel"]))
    console.print(table)


export_app = typer.Typer(help="Write the journeys for process mining (OCEL 2.0 JSON or XES), read from the journeys "
                              "service's read models straight from PostgreSQL: `casetrack up` must be running, or "
                              "CASETRACK_DATABASE_URL be set. Pseudonymous: ids and coded facts, never a name.",
                         no_args_is_help=True)
app.add_typer(export_app, name="export")
ExportPath = Annotated[str, typer.Argument(help="the file to write (owner-only)")]
ExportDistrict = Annotated[str | None, typer.Option(help="only the cases of this district, e.g. preston")]
FirstDay = Annotated[str | None, typer.Option("--from", help="only cases referred on or after this day (YYYY-MM-DD)")]
LastDay = Annotated[str | None, typer.Option("--to", help="only cases referred on or before this day (YYYY-MM-DD)")]
AsOf = Annotated[str | None, typer.Option("--as-of", help="as known at the end of this day (YYYY-MM-DD): events "
                                                          "recorded later are left out")]


@export_app.command("ocel", help="Write OCEL 2.0 JSON: young people, cases, placements, schemes, providers and "
                                 "floating support episodes, each event related to them with a qualifier.")
def export_ocel(path: ExportPath, district: ExportDistrict = None, first_day: FirstDay = None,
                last_day: LastDay = None, as_of: AsOf = None) -> None:
    import json

    from services.journeys.exports import ocel_of

    journeys = _read_journeys(district, first_day, last_day, as_of)
    document = ocel_of(journeys)
    _write_export(path, json.dumps(document, indent=1) + "\n")
    console.print(f"wrote {len(document['events'])} events, {len(document['objects'])} objects to {path}",
                  highlight=False)


@export_app.command("xes", help="Write XES: a trace per case, an event per step of its journey.")
def export_xes(path: ExportPath, district: ExportDistrict = None, first_day: FirstDay = None,
               last_day: LastDay = None, as_of: AsOf = None) -> None:
    from services.journeys.exports import xes_of

    journeys = _read_journeys(district, first_day, last_day, as_of)
    _write_export(path, xes_of(journeys))
    console.print(f"wrote {sum(len(j.steps) for j in journeys)} events, {len(journeys)} traces (cases) to {path}",
                  highlight=False)


def _read_journeys(district: str | None, first_day: str | None, last_day: str | None, as_of: str | None) -> list:
    """The journeys chosen, from the database of the settings (or of `casetrack up`); one line and exit if not."""
    from datetime import date

    from services.journeys.exports import read_journeys
    from shared.contracts.vocabulary import UnknownDistrict, known_district

    settings = load_settings()
    days = {}
    for option, given in (("--from", first_day), ("--to", last_day), ("--as-of", as_of)):
        try:
            days[option] = date.fromisoformat(given) if given else None
        except ValueError:
            err.print(f"casetrack: {option} takes a day as YYYY-MM-DD, not {given!r}")
            raise typer.Exit(2) from None
    try:
        district = known_district(district) if district else None
    except UnknownDistrict as error:
        err.print(f"casetrack: {error}")
        raise typer.Exit(2) from None
    return _reading_journeys(settings, lambda conn: read_journeys(
        conn, district=district, first_day=days["--from"], last_day=days["--to"], as_of=days["--as-of"]))


def _reading_journeys(settings: Settings, read: Any) -> Any:
    """`read(conn)` on the database of the settings (or of `casetrack up`); one line and exit if it cannot."""
    import asyncio

    import asyncpg

    from shared.devservers import Postgres

    if not settings.database_url and not (settings.data_dir / "pg").is_dir():
        err.print(f"casetrack: no PostgreSQL of casetrack up in {settings.data_dir}: start casetrack up, or set "
                  "CASETRACK_DATABASE_URL")
        raise typer.Exit(2)
    url = settings.database_url or Postgres(settings.data_dir / "pg", settings.postgres_port, settings.host).url

    async def reading() -> Any:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            return await read(conn)
        finally:
            await conn.close()

    try:
        return asyncio.run(reading())
    except (OSError, asyncpg.PostgresError) as error:
        err.print(f"[red]casetrack: could not read the journeys: {type(error).__name__} {error}[/red]",
                  highlight=False)
        raise typer.Exit(1) from None


report_app = typer.Typer(help="Print the analysts' views in the terminal, read from the journeys service's read "
                              "models (casetrack up running, or CASETRACK_DATABASE_URL set).", no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("pathways", help="The pathway map's variant table (young people, days end to end: median and 90th "
                                     "percentile, planned move-ons, breakdowns and cost per variant), time in each "
                                     "stage, breakdowns by reason and stage, and panel throughput; small numbers "
                                     "suppressed.")
def report_pathways(district: ExportDistrict = None, as_of: AsOf = None) -> None:
    from datetime import UTC, date, datetime

    from services.journeys.pathway_queries import Chosen
    from services.journeys.summaries import pathway_map_of
    from shared.contracts.vocabulary import UnknownDistrict, known_district

    settings = load_settings()
    try:
        chosen = Chosen(district=known_district(district) if district else None,
                        as_of=date.fromisoformat(as_of) if as_of else None)
    except (UnknownDistrict, ValueError) as error:
        err.print(f"casetrack: {error}")
        raise typer.Exit(2) from None
    found = _reading_journeys(settings, lambda conn: pathway_map_of(
        conn, chosen, threshold=settings.small_number_threshold, today=datetime.now(UTC).date()))
    table = Table(title=f"Pathway variants{' in ' + chosen.district if chosen.district else ''}"
                        f"{' as known on ' + str(chosen.as_of) if chosen.as_of else ''}")
    for column in ("variant", "young people", "median days", "p90 days", "planned move-on %",
                   "breakdowns /100 placements", "mean cost £", "cost per planned move-on £"):
        table.add_column(column, justify="left" if column == "variant" else "right")

    def shown(value: Any, pence: bool = False) -> str:
        if value is None:
            return "-"
        return f"{value / 100:,.0f}" if pence else f"{value:g}" if isinstance(value, float) else str(value)

    for row in [*found.variants, found.total]:
        label = " > ".join(row.variant) or "all young people"
        table.add_row(label, "suppressed" if row.young_people is None else shown(row.young_people),
                      shown(row.median_days), shown(row.p90_days), shown(row.planned_move_on_percent),
                      shown(row.breakdowns_per_100_placements), shown(row.mean_cost_pence, True),
                      shown(row.cost_per_planned_move_on_pence, True))
    console.print(table)
    stages = Table(title="Time in each stage (days)")
    for column in ("stage", "young people", "median", "p90"):
        stages.add_column(column, justify="left" if column == "stage" else "right")
    for cell in found.time_in_stage:
        stages.add_row(cell.stage, "suppressed" if cell.suppressed else shown(cell.young_people),
                       shown(cell.median_days), shown(cell.p90_days))
    if found.time_in_stage:
        console.print(stages)
    breakdowns = Table(title="Breakdowns by reason and stage")
    for column in ("reason", "stage", "young people", "breakdowns", "per 100 placements"):
        breakdowns.add_column(column, justify="left" if column in ("reason", "stage") else "right")
    for cell in found.breakdowns:
        breakdowns.add_row(cell.reason, cell.stage, "suppressed" if cell.suppressed else shown(cell.young_people),
                           shown(cell.breakdowns), shown(cell.breakdowns_per_100_placements))
    if found.breakdowns:
        console.print(breakdowns)
    panels = Table(title="Panel throughput")
    for column in ("area", "month", "young people", "decisions", "by decision"):
        panels.add_column(column, justify="left" if column in ("area", "month", "by decision") else "right")
    for cell in found.panel_throughput:
        panels.add_row(cell.area, cell.month, "suppressed" if cell.suppressed else shown(cell.young_people),
                       shown(cell.decisions), ", ".join(f"{name} {shown(count)}"
                                                        for name, count in sorted(cell.by_decision.items())))
    if found.panel_throughput:
        console.print(panels)


def _write_export(path: str, text: str) -> None:
    import os

    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as written:
        written.write(text)


@app.command(help="Write the event JSON Schemas and the AsyncAPI document under docs/.")
def docs(folder: Annotated[str, typer.Option(help="where to write")] = "docs") -> None:
    from pathlib import Path

    from shared.contracts.documents import write_documents

    for path in write_documents(Path(folder)):
        console.print(f"wrote {path}", highlight=False)



def administrator(settings: Settings) -> dict[str, str]:
    """An administrator's bearer token for the operations routes, minted with the embedded default's key."""
    from shared.auth import embedded_signing_key, mint_token

    try:
        key = embedded_signing_key(settings.data_dir)
    except FileNotFoundError as error:
        err.print(f"[red]casetrack: {error}[/red]", highlight=False)
        raise typer.Exit(2) from None
    token = mint_token(key, role="admin", subject="casetrack-cli", minutes=10, issuer=settings.token_issuer,
                       audience=settings.token_audience)
    return {"Authorization": f"Bearer {token}"}


def running_projections(settings: Settings) -> list[dict]:
    """Every projection of every running service, as its `GET /projections` describes it."""
    import httpx

    found = []
    for service in SERVICES:
        try:
            response = httpx.get(f"{settings.url_of(service)}/projections", timeout=5,
                                 headers=administrator(settings))
        except httpx.HTTPError:
            err.print(f"[yellow]{service} is not answering at {settings.url_of(service)}[/yellow]")
            continue
        if response.status_code == 200:
            found.extend(response.json())
    return found


@app.command(help="List every read model of the running services: the sources each follows, its position and lag.")
def projections() -> None:
    settings = load_settings()
    table = Table(title="casetrack projections")
    for column in ("service", "projection", "source", "position", "lag", "rebuild"):
        table.add_column(column, justify="right" if column in ("position", "lag") else "left")
    for state in running_projections(settings):
        rebuild = state["rebuild"]
        for source, at in state["sources"].items():
            table.add_row(state["service"], state["projection"], source, str(at["position"]), str(at["lag"]),
                          f"{rebuild['state']} {rebuild['done']}/{rebuild['total']}" if rebuild else "")
    console.print(table)


@app.command(help="Rebuild one read model (or every one) of the running services from the events, into fresh "
                  "tables that replace the old ones only when complete; reads keep answering meanwhile.")
def rebuild(name: Annotated[str | None, typer.Argument(help="the projection; all of them if left out")] = None) -> None:
    import time

    import httpx
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    settings = load_settings()
    chosen = [state for state in running_projections(settings) if name in (None, state["projection"])]
    if not chosen:
        err.print(f"casetrack: no running service has a projection {name!r}" if name else
                  "casetrack: no running service answered")
        raise typer.Exit(2)
    failed = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console) as bar:
        for state in chosen:
            url = f"{settings.url_of(state['service'])}/projections/{state['projection']}/rebuild"
            progress = httpx.post(url, timeout=10, headers=administrator(settings)).json()
            task = bar.add_task(f"{state['service']} {state['projection']}", total=max(progress["total"], 1))
            while progress["state"] == "running":
                time.sleep(0.2)  # polling the service's progress for the bar
                states = httpx.get(f"{settings.url_of(state['service'])}/projections", timeout=10,
                                   headers=administrator(settings)).json()
                progress = next(s["rebuild"] for s in states if s["projection"] == state["projection"])
                bar.update(task, total=max(progress["total"], 1), completed=progress["done"])
            bar.update(task, completed=max(progress["total"], 1))
            if progress["state"] != "done":
                failed.append(f"{state['projection']}: {progress['state']} {progress.get('error') or ''}")
    for failure in failed:
        err.print(f"[red]casetrack: rebuilding {failure}; the old tables still answer[/red]")
    if failed:
        raise typer.Exit(1)


@app.command(help="Run the referral service's birthday sweep now: AgeReached on each open case whose young person "
                  "turned 18 by ON (today if left out). The service also runs it at start and every hour.")
def birthdays(on: Annotated[str | None, typer.Option(help="YYYY-MM-DD; today if left out")] = None) -> None:
    import httpx

    settings = load_settings()
    response = httpx.post(f"{settings.url_of('referral')}/birthdays", params={"on": on} if on else {}, timeout=60,
                          headers=administrator(settings))
    if response.status_code != 200:
        err.print(f"[red]casetrack: the birthday sweep answered {response.status_code}: {response.text}[/red]",
                  highlight=False)
        raise typer.Exit(1)
    body = response.json()
    console.print(f"{len(body['case_ids'])} young people turned 18 by {body['on']} ({body['position']})",
                  highlight=False)


@app.command(help="Print a bearer token for the system `casetrack up` runs, signed with its key (made on its first "
                  "start under DATA_DIR/secrets). Send it as `Authorization: Bearer <token>`. Roles: "
                  "district_officer (needs --district), provider (needs --provider), childrens_services, "
                  "panel_member, commissioner, finance_officer, analyst, auditor, data_protection_officer, admin.")
def token(
    role: Annotated[str, typer.Option(help="the caller's role")],
    district: Annotated[str | None, typer.Option(help="a district officer's district, e.g. preston")] = None,
    provider: Annotated[str | None, typer.Option(help="a provider's id")] = None,
    subject: Annotated[str | None, typer.Option(help="who the caller is (recorded as the actor of their "
                                                     "changes); default: the role (and district)")] = None,
    minutes: Annotated[int, typer.Option(help="how long the token lasts")] = 60,
) -> None:
    from shared.auth import embedded_signing_key, mint_token

    settings = load_settings()
    try:
        key = embedded_signing_key(settings.data_dir)
        minted = mint_token(key, role=role, district=district, provider=provider, subject=subject, minutes=minutes,
                            issuer=settings.token_issuer, audience=settings.token_audience)
    except (FileNotFoundError, ValueError) as error:
        err.print(f"[red]casetrack token: {error}[/red]", highlight=False)
        raise typer.Exit(2) from None
    print(minted)


@app.command(help="Measure casetrack's throughput, each figure beside a raw NATS or PostgreSQL baseline taken in "
                  "the same run, on a nats-server and a PostgreSQL of its own (nothing else is touched).")
def bench(
    json_path: Annotated[str | None, typer.Option("--json", help="also write the figures as JSON here")] = None,
    events: Annotated[int, typer.Option(help="backlog size for the relay and the raw stream and COPY baselines")]
    = 50_000,
    tiny: Annotated[bool, typer.Option(help="a few hundred events: checks the bench runs, measures nothing")]
    = False,
    young_people: Annotated[int, typer.Option(
        help="also measure the journeys read side on a synthetic county of this many young people (about 30 events "
             "each; minutes at 100,000): the rebuild of every journeys projection, a journey and the pathway map")]
    = 0,
    journeys_only: Annotated[bool, typer.Option(help="with --young-people, measure the journeys figures alone")]
    = False,
    seed: Annotated[int, typer.Option(help="the synthetic county's seed")] = 14,
) -> None:
    import json
    from pathlib import Path

    from shared.bench import Size, run_bench
    from shared.devservers import EngineFailed

    try:
        report = run_bench(Size.of(events, tiny, young_people, journeys_only, seed), console)
    except EngineFailed as error:
        err.print(f"[red]casetrack: {error}[/red]")
        raise typer.Exit(1) from None
    console.print(report.table())
    for table in report.detail_tables():
        console.print(table)
    if json_path:
        Path(json_path).write_text(json.dumps(report.as_json(), indent=2) + "\n")
        console.print(f"wrote {json_path}", highlight=False)


@app.command(help="Inject faults into the system `casetrack up` is running, under a steady workload of retrying "
                  "clients, and check afterwards that every answered write is kept exactly once in every view. "
                  "With --soak, run the workload alone (an hour at 200 writes/s by default), sampling memory and lag.")
def chaos(
    fault: Annotated[list[str] | None, typer.Option(help="a fault to run (repeatable); all of them if left out: "
                                                         "kill-nats, kill-postgres, kill-services, postgres-away, "
                                                         "freeze-consumer, poison")] = None,
    scale: Annotated[float, typer.Option(help="how long and large each fault is (10: PostgreSQL away 100 s)")]
    = 10.0,
    soak: Annotated[bool, typer.Option(help="run the steady workload alone, sampling memory and lag")] = False,
    minutes: Annotated[float, typer.Option(help="how long the soak runs")] = 60.0,
    rate: Annotated[float | None, typer.Option(help="writes per second (default 20, or 200 with --soak)")] = None,
    json_path: Annotated[str | None, typer.Option("--json", help="also write the results as JSON here")] = None,
) -> None:
    import asyncio
    import json
    from dataclasses import asdict
    from pathlib import Path

    from shared.chaos import SENDING_DISTRICTS, Chaos, RunningSystem, soak_summary
    from shared.chaos import soak as run_soak
    from shared.devservers import Postgres

    settings = load_settings()
    running = RunningSystem(settings.data_dir, settings.nats_url or f"nats://{settings.host}:{settings.nats_port}",
                            settings.database_url or
                            Postgres(settings.data_dir / "pg", settings.postgres_port, settings.host).url)
    try:
        running.processes()
    except FileNotFoundError:
        err.print(f"casetrack: no running system found in {settings.data_dir} (start one with casetrack up)")
        raise typer.Exit(2) from None
    for district in SENDING_DISTRICTS:  # the workload's district systems connect as themselves
        issued_to(settings, district)
    rate = rate or (200.0 if soak else 20.0)
    run = Chaos(running, settings.url_of("referral"), settings.url_of("placement"), scale=scale, rate=rate,
                say=lambda line: console.print(line, highlight=False))
    if soak:
        pids = lambda: {name: int(p["pid"]) for name, p in running.processes().items()}  # noqa: E731
        samples = asyncio.run(run_soak(run, minutes, rate, pids))
        summary = soak_summary(samples)
        console.print_json(data=summary)
        result: dict = {"summary": summary, "soak": [asdict(sample) for sample in samples]}
        failed = False
    else:
        chosen = fault or list(run.faults())
        unknown = [name for name in chosen if name not in run.faults()]
        if unknown:
            err.print(f"casetrack: unknown fault {unknown[0]!r}; choose from {', '.join(run.faults())}")
            raise typer.Exit(2)

        async def all_faults() -> list[dict]:
            outcomes = []
            for name in chosen:
                detail, verdict = await run.through(run.faults()[name])
                outcomes.append({"fault": name, "detail": detail, "problems": verdict.problems,
                                 "figures": verdict.figures})
            return outcomes

        result = {"faults": asyncio.run(all_faults())}
        failed = any(outcome["problems"] for outcome in result["faults"])
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=2, default=str) + "\n")
    if failed:
        raise typer.Exit(1)



# -- casetrack demo ------------------------------------------------------------------------------------------------


@app.command(help="Simulate a county's young people for YEARS (a few thousand over three years, by default) and send "
                  "what happens to them through casetrack's real interfaces: district systems over NATS, case workers, "
                  "panels and providers over HTTP. Starts casetrack first if it is not running (and keeps it running "
                  "until Ctrl-C). Same seed, same county. Parameters: shared/data/demo_county.yaml, or your copy. "
                  "--compare BASE CHANGED runs both files, each on a casetrack of its own with fresh data, and prints "
                  "the differences.")
def demo(
    young_people: Annotated[int | None, typer.Option(help="how many young people present (default: the "
                                                          "parameters' weekly figure over the years)")] = None,
    seed: Annotated[int, typer.Option(help="the simulation's seed: the same seed gives the same journeys")] = 1,
    years: Annotated[float, typer.Option(help="simulated years, ending yesterday")] = 3.0,
    parameters: Annotated[str | None, typer.Option(help="a YAML parameters file (a copy of the shipped one)")] = None,
    compare: Annotated[tuple[str, str] | None, typer.Option(
        help="two parameters files (BASE CHANGED): run both on separate data and print the differences in KPI2, "
             "B&B nights, breakdowns and cost per planned move-on")] = None,
) -> None:
    import tempfile
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    from shared.demo.figures import compare as compared

    settings = load_settings()
    last_day = datetime.now(UTC).date() - timedelta(days=1)
    first_day = last_day - timedelta(days=round(365.25 * years) - 1)
    files = list(compare) if compare else [parameters]
    counties = [_demo_county(file, first_day, last_day) for file in files]  # all checked before anything is sent
    if not compare:
        _run_demo(settings, counties[0], seed, first_day, last_day, young_people, keep_running=True)
        return
    from shared.devservers import free_base_port, free_port

    runs = []
    for file, county in zip(files, counties, strict=True):
        with tempfile.TemporaryDirectory(prefix="casetrack-demo-") as folder:
            own = settings.model_copy(update={
                "data_dir": Path(folder), "base_port": free_base_port(len(SERVICES)), "nats_port": free_port(),
                "postgres_port": free_port()})
            console.print(f"[bold]{escape(file)}[/bold]: a casetrack of its own, data in {folder}", highlight=False)
            runs.append(_run_demo(own, county, seed, first_day, last_day, young_people, keep_running=False,
                                  fresh=True))
    table = Table(title=f"{files[0]} against {files[1]} (seed {seed}, {first_day} to {last_day})")
    for column in ("figure", files[0], files[1], "difference"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for row in compared(*runs):
        table.add_row(*row)
    console.print(table)


def _demo_county(file: str | None, first_day: Any, last_day: Any) -> Any:
    """The parameters of `file` (the shipped ones if None), checked: a refusal names each key and its reason."""
    from shared.demo.parameters import SHIPPED, ParametersRefused, load_parameters

    try:
        county = load_parameters(file or SHIPPED)
        county.check_in_force(first_day, last_day)
    except ParametersRefused as refused:
        err.print(f"[red]casetrack demo: {escape(refused.source)} refused:[/red]", highlight=False)
        for key, reason in refused.problems:
            err.print(f"  {escape(key)}: {escape(reason)}", highlight=False)
        raise typer.Exit(2) from None
    return county


def _run_demo(settings: Settings, county: Any, seed: int, first_day: Any, last_day: Any, young_people: int | None,
              *, keep_running: bool, fresh: bool = False) -> Any:
    """Simulate the county, start casetrack unless it runs (always, when `fresh`), send every action, and print
    where to look and the figures casetrack computed; the figures."""
    import asyncio

    import httpx
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from shared.auth import embedded_signing_key, mint_token
    from shared.demo.driver import CountyDriver, DemoFailed, Doors
    from shared.demo.figures import read_figures
    from shared.demo.simulator import simulate

    actions = simulate(county, seed, first_day, last_day, young_people)
    people = sum(1 for action in actions if action.kind == "referral")
    system = None
    try:
        if fresh:
            raise httpx.ConnectError("a casetrack of its own")
        httpx.get(f"{settings.url_of('referral')}/health", timeout=2)
    except httpx.HTTPError:
        from shared.devservers import EngineFailed, System

        system = System(settings, say=lambda line: err.print(f"[yellow]{escape(line)}[/yellow]", highlight=False))
        try:
            with console.status("starting NATS, PostgreSQL and the services..."):
                system.start(supervise=keep_running)
        except EngineFailed as error:
            err.print(f"[red]casetrack: {error}[/red]")
            raise typer.Exit(1) from None
    try:
        key = embedded_signing_key(settings.data_dir)

        def tokens(role: str, **claims: Any) -> str:
            return mint_token(key, role=role, minutes=24 * 60, issuer=settings.token_issuer,
                              audience=settings.token_audience, **claims)

        doors = Doors(urls={name: settings.url_of(name) for name in SERVICES}, tokens=tokens,
                      district_nats=lambda district: issued_to(settings, district).connect_options())
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as bar:
            task = bar.add_task(f"{people:,} young people, {first_day} to {last_day}", total=len(actions))

            def done(action: Any) -> None:
                bar.update(task, advance=1, description=f"{people:,} young people: {action.at.date()}")

            driver = CountyDriver(doors, done=done)
            try:
                sent = asyncio.run(driver.drive(actions, costed_through=last_day))
            except DemoFailed as failed:
                err.print(f"[red]casetrack demo failed: {escape(str(failed))}[/red]", highlight=False)
                raise typer.Exit(1) from None
        token = tokens("analyst", subject="casetrack-demo")
        figures = read_figures(settings, {"outcomes": sent.after("placement", "outcomes"),
                                          "journeys": sent.after("referral", "placement", "finance")},
                               first_day, last_day, token)
        _demo_summary(settings, sent, figures, first_day, last_day, token, sent_actions=sent.actions)
        if system is not None and keep_running:
            console.print("casetrack keeps running for you to look around; Ctrl-C stops it.")
            stopping = threading.Event()
            for ending in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(ending, lambda *_: stopping.set())
            while not stopping.wait(1.0):
                pass
        return figures
    finally:
        if system is not None:
            system.stop()


def _demo_summary(settings: Settings, sent: Any, figures: Any, first_day: Any, last_day: Any, token: str,
                  sent_actions: int) -> None:
    """Where to look, and the county's figures as casetrack computed them from what was sent."""
    journeys, outcomes = settings.url_of("journeys"), settings.url_of("outcomes")
    example = next(iter(sent.cases.values()), None)
    console.print("\n[bold]Where to look[/bold]")
    console.print(f"  the journey map: {journeys}/journey-map#token={token}", highlight=False, soft_wrap=True)
    console.print("  (the token is an analyst's for 24 hours; `casetrack token --role analyst` prints another)")
    console.print(f"  API docs: {settings.url_of('referral')}/docs ... {journeys}/docs", highlight=False)
    console.print(f"  the pathway map: {journeys}/pathway-map  (or `casetrack report pathways`)", highlight=False)
    if example:
        console.print(f"  a case's journey: {journeys}/journeys/{example}", highlight=False)
    days = f"first_day={first_day}&last_day={last_day}"
    console.print(f"  KPIs: {outcomes}/kpi1?{days}, {outcomes}/kpi2?{days}, {outcomes}/destinations?{days}",
                  highlight=False)
    table = Table(title=f"The demo county, {first_day} to {last_day}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("young people (in the pathway map)", f"{figures.young_people:,}")
    table.add_row("actions sent", f"{sent_actions:,}")
    for name, target in (("kpi1", "98.2"), ("kpi2", "80")):
        figure = getattr(figures, name)
        table.add_row(f"{name.upper()} (target {target}%)", f"{figure['percent']}% ({figure['numerator']}/"
                      f"{figure['denominator']}, excluded {figure['excluded']})")
    table.add_row("B&B nights", f"{figures.bed_and_breakfast_nights:,}")
    table.add_row("breakdowns per 100 placements", f"{figures.breakdowns_per_100_placements}")
    cost = figures.cost_per_planned_move_on_pence
    table.add_row("cost per planned move-on", f"£{cost / 100:,.0f}" if cost else "-")
    console.print(table)
    variants = Table(title="Cost per planned move-on by pathway (the journeys' pathway map)")
    for column in ("pathway", "young people", "planned move-on %", "cost per planned move-on"):
        variants.add_column(column, justify="left" if column == "pathway" else "right")
    for variant in figures.pathways[:10]:
        cost = variant.get("cost_per_planned_move_on_pence")
        variants.add_row(" > ".join(variant["variant"]), str(variant["young_people"]),
                         str(variant.get("planned_move_on_percent")), f"£{cost / 100:,.0f}" if cost else "-")
    console.print(variants)


if __name__ == "__main__":
    app()
