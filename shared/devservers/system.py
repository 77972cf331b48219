"""The whole of casetrack on one machine: the engines (unless settings name servers) and every service
as its own process, supervised by `casetrack up` and started the same way by the end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpx
import psutil

from shared.devservers.engines import (
    EngineFailed,
    NatsServer,
    Postgres,
    ensure_port_free,
    kill_backends_of,
    launch,
    resume,
    signal_tree,
    stop_process,
    wait_until,
)
from shared.devservers.nats_users import (
    admin_credentials,
    credentials_file,
    embedded_authorization,
    issue_district_credentials,
)
from shared.devservers.runfolder import Owned, RunFolder
from shared.devservers.secrets import kept_secret, secrets_folder, without_password
from shared.devservers.supervisor import Journal, Restart, Supervisor, how_it_ended
from shared.nats_access import Credentials, service_user
from shared.settings import SECRETS, SERVICES, Settings, secrets_of
from shared.streams import create_streams

DRAIN_SECONDS = 12.0
"""How long a service is given to finish its requests and messages after SIGTERM, before SIGKILL."""


@dataclass
class ServiceProcess:
    """One casetrack service running as its own process (`casetrack service <name>`)."""

    name: str
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen | None = None
    kind: ClassVar[str] = "service"

    @property
    def program(self) -> str:
        return self.name

    @property
    def url(self) -> str:
        return f"http://{self.env['CASETRACK_SERVICE_HOST']}:{self.port}"

    @property
    def output(self) -> Path:
        """The process's own stdout and stderr (`<name>.out`): what it prints before its logging is set up, a
        crash's traceback, and spans when console traces are on. Its log proper is `log`, JSON lines the
        service writes and rotates itself (CASETRACK_LOG_DIR)."""
        return self.log.with_suffix(".out")

    def start(self) -> None:
        ensure_port_free(self.env["CASETRACK_SERVICE_HOST"], self.port, f"the {self.name} service")
        self.process = launch([sys.executable, "-m", "shared.cli", "service", self.name], self.output,
                              env={**os.environ, **self.env, "CASETRACK_SERVICE_PORT": str(self.port)})

    def is_ours(self, process: psutil.Process) -> bool:
        """Whether a live process is this service of this data folder's system."""
        try:
            return (process.cmdline()[-3:] == ["shared.cli", "service", self.name]
                    and process.environ().get("CASETRACK_DATA_DIR") == self.env["CASETRACK_DATA_DIR"])
        except psutil.Error:
            return False

    def wait_until_healthy(self, timeout: float = 60.0) -> None:
        wait_until(self.healthy, self.process, f"the {self.name} service", self.output, timeout)

    def healthy(self) -> bool:
        try:
            # fresh: a check begun now, not the last snapshot (taken before, say, NATS was restarted)
            return httpx.get(f"{self.url}/health", params={"fresh": "true"}, timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        stop_process(self.process, timeout=DRAIN_SECONDS)

    def kill(self) -> None:
        stop_process(self.process, signal.SIGKILL)

    def has_died(self) -> bool:
        return self.process is not None and self.process.poll() is not None


class System:
    """The whole of casetrack on one machine: engines (unless settings name servers) and every service.

    Every process it starts is recorded in `data_dir/run/` and, with `start(supervise=True)`, watched and
    restarted (see `Supervisor`); `data_dir/logs/casetrack-up.log` has a line for each start, stop and restart.
    `pid`, `kill`, `freeze`, `thaw`, `stop_engine`, `start_engine` and `wait_until_healed` are for fault tests."""

    def __init__(self, settings: Settings, services: list[str] | None = None,
                 say: Callable[[str], None] | None = None):
        self.settings = settings
        self.nats: NatsServer | None = None
        self.postgres: Postgres | None = None
        self.services: dict[str, ServiceProcess] = {}
        self.service_names = services if services is not None else list(SERVICES)
        self.run_folder = RunFolder(settings.data_dir / "run")
        self.journal = Journal(settings.data_dir / "logs" / "casetrack-up.log", say)
        self.supervisor = Supervisor(self.journal, self.record)
        self._secret_env: dict[str, str] | None = None

    @property
    def nats_url(self) -> str:
        return self.settings.nats_url or self.nats.url

    @property
    def database_url(self) -> str:
        return self.settings.database_url or self.postgres.url

    @property
    def shown_database_url(self) -> str:
        """The database's address without its password: what `casetrack up` prints."""
        return without_password(self.database_url)

    @property
    def restarts(self) -> list[Restart]:
        return self.supervisor.restarts

    def owned(self) -> Iterator[Owned]:
        """Every process this system runs, engines first."""
        yield from (engine for engine in (self.nats, self.postgres) if engine is not None)
        yield from self.services.values()

    def start_engines(self) -> None:
        data = self.settings.data_dir
        if not self.settings.nats_url:
            self.nats = embedded_nats(self.settings)
            self._start(self.nats)
        self.create_streams()
        if not self.settings.database_url:
            self.postgres = Postgres(data / "pg", self.settings.postgres_port, self.settings.host)
            self._start(self.postgres)

    def service_env(self) -> dict[str, str]:
        return {
            "CASETRACK_NATS_URL": self.nats_url,
            "CASETRACK_DATABASE_URL": self.database_url,
            "CASETRACK_SERVICE_HOST": self.settings.host,
            "CASETRACK_ENVIRONMENT": self.settings.environment,
            "CASETRACK_DATA_DIR": str(self.settings.data_dir),
            "CASETRACK_CONSOLE_TRACES": str(self.settings.console_traces).lower(),
            "CASETRACK_LOG_DIR": str(self.settings.data_dir / "logs"),
            "CASETRACK_WRITE_RATE_PER_MINUTE": str(self.settings.write_rate_per_minute),
            "CASETRACK_WRITE_BURST": str(self.settings.write_burst),
            **self.token_env(),
        }

    def secret_env(self, service: str | None = None) -> dict[str, str]:
        """How `service` (or, with none named, every service) finds the keys it needs (`secrets_of`): the file
        settings name, or the key they give, or else the file made on first start under `<data_dir>/secrets/`
        (owner-only, apart from the database). The keys themselves are never put in a service's environment
        unless settings gave them that way; the vault key reaches the referral service alone."""
        if self._secret_env is None:
            self._secret_env = {}
            for name in SECRETS:
                variable = f"CASETRACK_{name.upper()}"
                given_file, given = getattr(self.settings, f"{name}_file"), getattr(self.settings, name)
                if given_file is not None:
                    self._secret_env[f"{variable}_FILE"] = str(given_file)
                elif given is not None:
                    self._secret_env[variable] = given.get_secret_value()
                elif name == "vault_key" and self._sealed_with_the_placeholder():
                    continue  # a test run on an old data folder: the services use the placeholder
                else:
                    file = kept_secret(self.settings.data_dir, name.replace("_", "-"))
                    self._secret_env[f"{variable}_FILE"] = str(file)
        if service is None:
            return self._secret_env
        needed = {f"CASETRACK_{name.upper()}" for name in secrets_of(service)}
        return {variable: value for variable, value in self._secret_env.items()
                if variable.removesuffix("_FILE") in needed}

    def _sealed_with_the_placeholder(self) -> bool:
        """Whether the embedded database was made before `casetrack up` made vault keys, so its vault (if it holds
        anything) is sealed with the placeholder. Outside `environment=test` that is refused (EngineFailed): a
        new key would make the vaulted details unreadable, and the placeholder protects nothing."""
        made_before = (not self.settings.database_url and (self.settings.data_dir / "pg" / "PG_VERSION").exists()
                       and not (self.settings.data_dir / "secrets" / "vault-key").exists())
        if made_before and self.settings.environment != "test":
            raise EngineFailed(
                f"{self.settings.data_dir} was made before casetrack kept a vault key of its own: its vault is "
                "sealed with the placeholder key, refused outside CASETRACK_ENVIRONMENT=test. Move the folder "
                "aside to start afresh, or give the key its data was sealed with in CASETRACK_VAULT_KEY_FILE")
        if made_before:
            self.journal(f"WARNING: {self.settings.data_dir} predates kept vault keys: its vault stays sealed with "
                         "the placeholder key (allowed in CASETRACK_ENVIRONMENT=test only)")
        return made_before

    def token_env(self) -> dict[str, str]:
        """How services verify bearer tokens: the issuer's JWKS or key file the settings name, else the
        embedded default's Ed25519 key pair, made on first start under `<data_dir>/secrets/` (the private key
        stays there: `casetrack token` mints with it)."""
        settings = self.settings
        env = {"CASETRACK_TOKEN_ISSUER": settings.token_issuer, "CASETRACK_TOKEN_AUDIENCE": settings.token_audience}
        if settings.token_jwks_url:
            return env | {"CASETRACK_TOKEN_JWKS_URL": settings.token_jwks_url}
        if settings.token_public_key_file:
            return env | {"CASETRACK_TOKEN_PUBLIC_KEY_FILE": str(settings.token_public_key_file)}
        from shared.auth import PUBLIC_KEY_FILE, SIGNING_KEY_FILE, make_signing_key, public_key_of

        signing = kept_secret(settings.data_dir, SIGNING_KEY_FILE, make_signing_key)
        public = secrets_folder(settings.data_dir) / PUBLIC_KEY_FILE  # always the signing key's own
        public.write_bytes(public_key_of(signing.read_bytes()))
        public.chmod(0o600)  # not secret, but the folder holds nothing anyone else may read
        return env | {"CASETRACK_TOKEN_PUBLIC_KEY_FILE": str(public)}

    def create_streams(self) -> None:
        """Create the streams (or bring them up to date), as the NATS administrator of the embedded server, or
        without credentials on a server the settings name (an open one: a deployment runs `casetrack streams`)."""
        options = admin_credentials(self.settings.data_dir).connect_options() if self.nats is not None else {}
        apart(create_streams([self.nats_url], self.settings.stream_replicas, **options))

    def nats_env(self, service: str) -> dict[str, str]:
        """The service's own NATS credentials (embedded server only)."""
        if self.nats is None:
            return {}
        return {"CASETRACK_NATS_CREDENTIALS": str(credentials_file(self.settings.data_dir, service_user(service)))}

    def district_credentials(self, district: str) -> Credentials:
        """Issue a district's credentials (UnknownDistrict if casetrack does not serve it) and let the running
        embedded server know them at once; with this system's NATS address. (`casetrack credentials district`.)"""
        credentials = issue_district_credentials(self.settings.data_dir, district)
        if self.nats is not None:
            with self.supervisor.lock:
                self.nats.reload()
        return credentials.with_servers([self.nats_url])

    def admin_credentials(self) -> Credentials:
        """The embedded server's administrator (for tests and tools on this machine), with its address."""
        return admin_credentials(self.settings.data_dir).with_servers([self.nats_url])

    def start_services(self) -> None:
        env = self.service_env()
        for name in self.service_names:
            service = ServiceProcess(name, self.settings.port_of(name),
                                     env | self.secret_env(name) | self.nats_env(name),
                                     self.settings.data_dir / "logs" / f"{name}.log")
            self.services[name] = service
            self._start(service)
        for service in self.services.values():
            service.wait_until_healthy()

    def start(self, supervise: bool = False) -> None:
        """Start everything (first stopping what a previous run on this data folder left running); with
        `supervise`, watch it all from a background thread and restart whatever dies or freezes."""
        try:
            self.stop_left_overs()
            self.secret_env()  # before the engines: a data folder made before kept vault keys is recognised
            self.start_engines()
            self.start_services()
        except BaseException:
            self.stop()
            raise
        if supervise:
            self.supervisor.start()

    def _start(self, owned: Owned) -> None:
        owned.start()
        self.supervisor.watch(owned)
        self.record()
        self.journal(f"started {owned.program} (pid {owned.process.pid}), log {owned.log}", show=False)

    def record(self) -> None:
        self.run_folder.record(self.owned())

    def stop_left_overs(self) -> None:
        """Stop whatever an earlier run on this data folder left running (it was killed, or dropped by a test),
        or a PostgreSQL started by hand on it, so that their ports are free again: services first, engines last.
        Only a live process that is still that program is touched (a recorded pid may since be someone else's)."""
        data = self.settings.data_dir
        env = {"CASETRACK_SERVICE_HOST": self.settings.host, "CASETRACK_DATA_DIR": str(data)}
        nats = embedded_nats(self.settings)
        postgres = Postgres(data / "pg", self.settings.postgres_port, self.settings.host)
        services = [ServiceProcess(name, 0, env, data / "logs" / f"{name}.log")
                    for name in self.run_folder.recorded() if name not in (nats.name, postgres.name)]
        for together, sig in ((services, signal.SIGTERM), ([postgres], signal.SIGINT), ([nats], signal.SIGTERM)):
            left = [(owned, self.run_folder.left_over(owned.name, owned.is_ours)
                     or (postgres.running_postmaster() if owned is postgres else None)) for owned in together]
            left = [(owned, process) for owned, process in left if process is not None]
            for owned, process in left:
                self.journal(f"{owned.program} (pid {process.pid}) was left over from a previous run; stopping it")
            stop_left_over([process for _, process in left], sig)
            for owned, process in left:
                if owned is postgres:
                    kill_backends_of(process.pid)
                self.run_folder.forget(owned.name)

    def stop(self) -> None:
        """Stop in order: the supervisor, then every service at once (each given DRAIN_SECONDS to drain, then
        killed), then PostgreSQL (fast shutdown), then NATS, which the services need until they have drained."""
        self.supervisor.stop()
        self.journal(f"stopping the services (each has {DRAIN_SECONDS:.0f} s to drain), then PostgreSQL, then NATS",
                     show=False)
        with self.supervisor.lock:
            stopping = [s for s in self.services.values() if s.process is not None and s.process.poll() is None]
            for service in stopping:
                resume(service.process.pid)
                service.process.terminate()
            deadline = time.monotonic() + DRAIN_SECONDS
            for service in stopping:
                try:
                    code = service.process.wait(max(deadline - time.monotonic(), 0.1))
                    ended = "drained" if code in (0, -signal.SIGTERM) else how_it_ended(code)  # uvicorn re-raises
                    self.journal(f"stopped {service.program} ({ended})", show=False)
                except subprocess.TimeoutExpired:
                    service.process.kill()
                    service.process.wait()
                    self.journal(f"{service.program} did not stop within {DRAIN_SECONDS:.0f} s; killed it")
            for engine in (self.postgres, self.nats):
                if engine is not None and engine.process is not None and engine.process.poll() is None:
                    engine.stop()
                    self.journal(f"stopped {engine.program} ({how_it_ended(engine.process.returncode)})", show=False)
            self.run_folder.forget_all()

    # What fault tests (and `casetrack chaos`) do to a running system.

    def _owned(self, name: str) -> Owned:
        found = {owned.name: owned for owned in self.owned()}
        if name not in found:
            raise KeyError(f"this system runs no {name!r}; it runs {', '.join(found)}")
        return found[name]

    def pid(self, name: str) -> int:
        """The pid of "nats", "postgres" or a service, as it runs now."""
        return self._owned(name).process.pid

    def kill(self, name: str) -> None:
        """kill -9, returning once the process is dead (a zombie until the supervisor, if started, reaps and
        restarts it), so that a `wait_until_healed` straight after cannot mistake it for still running."""
        pid = self.pid(name)
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                    return
            except psutil.NoSuchProcess:
                return
            time.sleep(0.01)  # the signal is delivered asynchronously

    def freeze(self, name: str) -> None:
        """SIGSTOP it (a PostgreSQL with its backends): the supervisor leaves it alone until `thaw`."""
        with self.supervisor.lock:
            self.supervisor.watches[name].frozen = True
            signal_tree(self.pid(name), signal.SIGSTOP)
            self.journal(f"froze {self._owned(name).program} (pid {self.pid(name)}) on purpose", show=False)

    def thaw(self, name: str) -> None:
        with self.supervisor.lock:
            resume(self.pid(name))
            watch = self.supervisor.watches[name]
            watch.frozen, watch.unanswered = False, 0
            self.journal(f"thawed {self._owned(name).program} (pid {self.pid(name)})", show=False)

    def stop_engine(self, name: str) -> None:
        """Stop "nats" or "postgres" on purpose (an outage): the supervisor does not restart it until
        `start_engine`."""
        with self.supervisor.lock:
            engine = self._owned(name)
            self.supervisor.watches[name].stopped = True
            engine.stop()
            self.run_folder.forget(name)
            self.record()
            self.journal(f"stopped {engine.program} on purpose", show=False)

    def start_engine(self, name: str) -> None:
        with self.supervisor.lock:
            engine = self._owned(name)
            engine.start()
            watch = self.supervisor.watches[name]
            watch.stopped, watch.restart_at = False, None
            watch.backoff.started(time.monotonic())
            for other in self.supervisor.watches.values():  # whatever died meanwhile need not wait its back-off
                if other.restart_at is not None:
                    other.restart_at = time.monotonic()
            self.record()
            self.journal(f"started {engine.program} again (pid {engine.process.pid})", show=False)

    def wait_until_healed(self, timeout: float = 60.0) -> None:
        """Wait until every owned process runs (none frozen or stopped on purpose) and every service's /health
        answers 200; TimeoutError names what is not yet so."""
        deadline = time.monotonic() + timeout
        while True:
            unwell = self.unwell()
            if not unwell:
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(f"not healed within {timeout:.0f} s: {'; '.join(unwell)}")
            time.sleep(0.2)  # polling the processes and their health until healed or the deadline

    def unwell(self) -> list[str]:
        with self.supervisor.lock:
            down = [f"{owned.program} is not running" for owned in self.owned()
                    if owned.process is None or owned.process.poll() is not None]
            held = [f"{watch.owned.program} is {'frozen' if watch.frozen else 'stopped'} on purpose"
                    for watch in self.supervisor.watches.values() if watch.frozen or watch.stopped]
        if down or held:
            return down + held
        services = list(self.services.values())
        with ThreadPoolExecutor(max_workers=max(len(services), 1)) as asking:
            healthy = list(asking.map(ServiceProcess.healthy, services))
        return [f"{service.name}'s /health is not 200" for service, ok in zip(services, healthy, strict=True)
                if not ok]


def embedded_nats(settings: Settings) -> NatsServer:
    """The embedded nats-server of these settings, always with its users and their permissions."""
    return NatsServer(settings.data_dir / "nats", settings.nats_port, settings.host,
                      authorization=lambda: embedded_authorization(settings.data_dir))


def apart(work: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine to its end from synchronous code, on an event loop of its own (in a thread, so that a
    caller already running a loop is not disturbed)."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, work).result()


def stop_left_over(processes: list[psutil.Process], sig: int, timeout: float = DRAIN_SECONDS) -> None:
    """Stop processes this run did not start (so cannot wait for as a parent), all at once: the signal, then
    SIGKILL for any still running after `timeout` seconds."""
    for process in processes:
        try:
            resume(process.pid)
            process.send_signal(sig)
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    for process in alive:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5)
