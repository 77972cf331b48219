"""The whole of casetrack on one machine: the engines (unless settings name servers) and every service
as its own process, supervised by `casetrack up` and started the same way by the end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from shared.devservers.engines import NatsServer, Postgres, ensure_port_free, stop_process, wait_until
from shared.settings import SERVICES, Settings


@dataclass
class ServiceProcess:
    """One casetrack service running as its own process (`casetrack service <name>`)."""

    name: str
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.env['CASETRACK_SERVICE_HOST']}:{self.port}"

    def start(self) -> None:
        ensure_port_free(self.env["CASETRACK_SERVICE_HOST"], self.port, f"the {self.name} service")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "service", self.name],
            env={**os.environ, **self.env, "CASETRACK_SERVICE_PORT": str(self.port)},
            stdin=subprocess.DEVNULL, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
        )

    def wait_until_healthy(self, timeout: float = 60.0) -> None:
        wait_until(self._healthy, self.process, f"the {self.name} service", self.log, timeout)

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        stop_process(self.process)

    def kill(self) -> None:
        stop_process(self.process, signal.SIGKILL)

    def has_died(self) -> bool:
        return self.process is not None and self.process.poll() is not None


class System:
    """The whole of casetrack on one machine: engines (unless settings name servers) and every service."""

    def __init__(self, settings: Settings, services: list[str] | None = None):
        self.settings = settings
        self.nats: NatsServer | None = None
        self.postgres: Postgres | None = None
        self.services: dict[str, ServiceProcess] = {}
        self.service_names = services if services is not None else list(SERVICES)

    @property
    def nats_url(self) -> str:
        return self.settings.nats_url or self.nats.url

    @property
    def database_url(self) -> str:
        return self.settings.database_url or self.postgres.url

    def start_engines(self) -> None:
        data = self.settings.data_dir
        if not self.settings.nats_url:
            self.nats = NatsServer(data / "nats", self.settings.nats_port, self.settings.host)
            self.nats.start()
        if not self.settings.database_url:
            self.postgres = Postgres(data / "pg", self.settings.postgres_port, self.settings.host)
            self.postgres.start()

    def service_env(self) -> dict[str, str]:
        return {
            "CASETRACK_NATS_URL": self.nats_url,
            "CASETRACK_DATABASE_URL": self.database_url,
            "CASETRACK_SERVICE_HOST": self.settings.host,
            "CASETRACK_ENVIRONMENT": self.settings.environment,
            "CASETRACK_DATA_DIR": str(self.settings.data_dir),
            "CASETRACK_VAULT_KEY": self.settings.vault_key.get_secret_value(),
            "CASETRACK_PLACEMENT_ID_KEY": self.settings.placement_id_key.get_secret_value(),
            "CASETRACK_CONSOLE_TRACES": str(self.settings.console_traces).lower(),
        }

    def start_services(self) -> None:
        env = self.service_env()
        for name in self.service_names:
            service = ServiceProcess(name, self.settings.port_of(name), env,
                                     self.settings.data_dir / "logs" / f"{name}.log")
            self.services[name] = service
            service.start()
        for service in self.services.values():
            service.wait_until_healthy()

    def start(self) -> None:
        try:
            self.start_engines()
            self.start_services()
        except BaseException:
            self.stop()
            raise

    def restart_service(self, name: str) -> None:
        service = self.services[name]
        service.stop()
        service.start()
        service.wait_until_healthy()

    def stop(self) -> None:
        for service in self.services.values():
            service.stop()
        if self.postgres:
            self.postgres.stop()
        if self.nats:
            self.nats.stop()
