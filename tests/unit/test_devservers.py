"""The development servers (embedded NATS and PostgreSQL, `casetrack up`'s processes) stay apart from runtime code,
and `casetrack up`'s supervision: back-off, stale pid files, left-overs, restarts."""

from __future__ import annotations

import ast
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from shared.devservers import Backoff, EngineFailed, Postgres, RunFolder, Supervisor
from shared.devservers.engines import launch
from shared.devservers.supervisor import Journal

REPO_ROOT = Path(__file__).resolve().parents[2]
DEVSERVERS = ("shared.devservers",)
ALLOWED = {Path("shared/cli.py"), Path("shared/bench.py")}  # `casetrack up`, and `casetrack bench` (its own servers)


def imported_modules(source: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_runtime_module_imports_the_development_servers():
    runtime = [path for folder in ("services", "shared") for path in (REPO_ROOT / folder).rglob("*.py")
               if not path.relative_to(REPO_ROOT).is_relative_to("shared/devservers")
               and path.relative_to(REPO_ROOT) not in ALLOWED]

    importers = {str(path.relative_to(REPO_ROOT)): sorted(name for name in imported_modules(path)
                                                          if name.startswith(DEVSERVERS)) for path in runtime}

    assert runtime and {path: names for path, names in importers.items() if names} == {}


def test_a_service_started_by_the_cli_never_loads_the_development_servers():
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, shared.cli; print(sorted(m for m in sys.modules if m.startswith("
                               f"{DEVSERVERS!r})))"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True)

    assert loaded.stdout.strip() == "[]"


# Supervision: back-off, stale pid files, left-overs and restarts, with stand-in processes (`sleep`).

def a_stand_in(*command: str, cwd: Path | None = None) -> subprocess.Popen:
    """A process to stand for an engine or a service: `sleep`, under another name if asked."""
    return subprocess.Popen(list(command) or ["sleep", "60"], cwd=cwd, start_new_session=True)


@pytest.fixture
def stand_ins() -> Iterator[list[subprocess.Popen]]:
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def a_dead_pid() -> int:
    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


def test_a_process_that_keeps_dying_waits_longer_each_time_up_to_thirty_seconds():
    backoff = Backoff()
    backoff.started(0.0)

    delays = [backoff.delay_after_death(now=float(death)) for death in range(1, 9)]

    assert delays == [0, 1, 2, 4, 8, 16, 30, 30]


def test_the_back_off_starts_afresh_once_a_process_has_stayed_up_a_while():
    backoff = Backoff(settled_after=30)
    backoff.started(0.0)
    for death in range(1, 5):
        backoff.delay_after_death(now=float(death))
    backoff.started(5.0)

    assert backoff.delay_after_death(now=34.0) == 8  # up 29 s: still dying too often
    backoff.started(34.0)
    assert backoff.delay_after_death(now=64.0) == 0  # up 30 s: a first death again


def test_a_postmaster_pid_naming_a_dead_process_is_removed_so_postgres_can_start(tmp_path):
    server = Postgres(tmp_path / "pg", 1)
    server.data_dir.mkdir()
    server.lock_file.write_text(f"{a_dead_pid()}\n{server.data_dir}\n")

    server.clear_remains()

    assert not server.lock_file.exists()


def test_a_postmaster_pid_whose_pid_now_belongs_to_another_program_is_removed(tmp_path, stand_ins):
    server = Postgres(tmp_path / "pg", 1)
    server.data_dir.mkdir()
    stand_ins.append(someone_else := a_stand_in(cwd=server.data_dir))  # same folder, but not a postgres
    server.lock_file.write_text(f"{someone_else.pid}\n")

    server.clear_remains()

    assert not server.lock_file.exists() and someone_else.poll() is None


def test_a_postmaster_pid_naming_a_live_postmaster_of_this_data_folder_is_kept(tmp_path, stand_ins):
    server = Postgres(tmp_path / "pg", 1)
    server.data_dir.mkdir()
    stand_ins.append(postmaster := a_stand_in("bash", "-c", "exec -a postgres sleep 60", cwd=server.data_dir))
    wait_for(lambda: psutil.Process(postmaster.pid).cmdline()[:1] == ["postgres"])
    server.lock_file.write_text(f"{postmaster.pid}\n")

    server.clear_remains()

    assert server.lock_file.exists() and server.running_postmaster().pid == postmaster.pid
    assert Postgres(tmp_path / "other", 1).is_ours(psutil.Process(postmaster.pid)) is False


def test_the_backends_a_killed_postmaster_left_behind_are_killed_before_postgres_starts_again(tmp_path, stand_ins):
    server = Postgres(tmp_path / "pg", 1)
    server.data_dir.mkdir()
    stand_ins.append(postmaster := a_stand_in(
        "bash", "-c", "(exec -a 'postgres: casetrack idle' sleep 60) & exec -a postgres sleep 60", cwd=server.data_dir))
    wait_for(lambda: len(psutil.Process(postmaster.pid).children()) == 1)
    [backend] = psutil.Process(postmaster.pid).children()
    server.lock_file.write_text(f"{postmaster.pid}\n")
    postmaster.kill()
    postmaster.wait()
    assert backend.is_running()  # reparented, still in the dead postmaster's process group

    server.clear_remains()

    assert not backend.is_running() or backend.status() == psutil.STATUS_ZOMBIE
    assert not server.lock_file.exists()


def test_a_process_recorded_by_an_earlier_run_is_left_over_only_while_it_runs_and_is_that_program(
        tmp_path, stand_ins):
    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    stand_ins.append(ours := a_stand_in())
    stand_ins.append(reused := a_stand_in())
    for name, pid in (("nats", ours.pid), ("referral", reused.pid), ("journeys", a_dead_pid())):
        run.pid_file(name).write_text(f"{pid}\n")

    def is_ours(process):
        return process.pid == ours.pid

    assert run.left_over("nats", is_ours).pid == ours.pid
    assert run.left_over("referral", is_ours) is None  # alive, but another program has the pid now
    assert run.left_over("journeys", is_ours) is None
    assert run.recorded() == ["nats"]


@dataclass
class StandIn:
    """Stands for an engine or a service in the supervisor's tests: a `sleep`, with a health URL of our choosing."""

    name: str
    kind: str = "engine"
    url: str = "http://127.0.0.1:1"
    port: int = 1
    log: Path = Path("/dev/null")
    process: subprocess.Popen | None = None
    starts: int = 0
    failing: bool = False

    @property
    def program(self) -> str:
        return f"the {self.name} stand-in"

    def start(self) -> None:
        if self.failing:
            raise EngineFailed("port 1 is already taken")
        self.starts += 1
        self.process = a_stand_in()

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()

    def is_ours(self, process) -> bool:
        return True


@pytest.fixture
def supervised(tmp_path) -> Iterator[tuple[Supervisor, list[str], list[StandIn]]]:
    lines: list[str] = []
    supervisor = Supervisor(Journal(tmp_path / "casetrack-up.log", lines.append), lambda: None,
                            health_every=0.0, health_timeout=0.3)
    watched: list[StandIn] = []
    yield supervisor, lines, watched
    supervisor.stop()
    for stand_in in watched:
        if stand_in.process.poll() is None:
            stand_in.stop()


def watched_stand_in(supervised, **fields) -> StandIn:
    supervisor, _, watched = supervised
    stand_in = StandIn(**fields)
    stand_in.start()
    supervisor.watch(stand_in)
    watched.append(stand_in)
    return stand_in


def test_a_process_killed_with_9_is_reaped_restarted_and_logged_in_one_line(supervised):
    supervisor, lines, _ = supervised
    nats = watched_stand_in(supervised, name="nats")
    first = nats.process
    first.kill()
    wait_for(lambda: psutil.Process(first.pid).status() == psutil.STATUS_ZOMBIE)

    supervisor.check()

    assert nats.starts == 2 and nats.process.poll() is None
    assert not psutil.pid_exists(first.pid)  # reaped: no zombie is left
    assert lines == [f"the nats stand-in (pid {first.pid}) died, killed by SIGKILL; restarted it as pid "
                     f"{nats.process.pid}"]
    assert [(r.name, r.old_pid, r.new_pid) for r in supervisor.restarts] == [("nats", first.pid, nats.process.pid)]
    assert lines[0] in (supervisor.journal.path.read_text())


def test_a_process_that_dies_again_at_once_is_restarted_after_its_back_off(supervised):
    supervisor, lines, _ = supervised
    nats = watched_stand_in(supervised, name="nats")
    nats.process.kill()
    nats.process.wait()
    supervisor.check(now=100.0)
    nats.process.kill()
    nats.process.wait()

    supervisor.check(now=101.0)
    supervisor.check(now=101.5)
    assert nats.starts == 2 and "restarting it in 1 s" in lines[-1]
    supervisor.check(now=102.0)
    assert nats.starts == 3


def test_an_engine_that_cannot_be_restarted_is_tried_again_later_and_said_so(supervised):
    supervisor, lines, _ = supervised
    nats = watched_stand_in(supervised, name="nats")
    nats.failing = True
    nats.process.kill()
    nats.process.wait()

    supervisor.check(now=100.0)
    assert lines[0] == "could not restart the nats stand-in: port 1 is already taken"
    assert "restarting it in 1 s" in lines[1]
    nats.failing = False
    supervisor.check(now=101.0)
    assert nats.starts == 2 and "restarted it as pid" in lines[-1]


class Unanswering:
    """A port that takes connections and never answers: what a frozen (SIGSTOPped) service looks like."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"  # keep the object: closing it refuses


class AnsweringUnavailable(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server naming
        self.send_response(503)
        self.end_headers()

    def log_message(self, *args):
        pass


def check_until(supervisor: Supervisor, done, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not done():
        supervisor.check()
        time.sleep(0.05)  # the health questions run in the supervisor's pool; asking again until decided


def test_a_service_not_answering_its_health_three_times_in_a_row_is_killed_and_restarted(supervised):
    supervisor, lines, _ = supervised
    port = Unanswering()
    frozen = watched_stand_in(supervised, name="referral", kind="service", url=port.url)
    first = frozen.process

    check_until(supervisor, lambda: supervisor.restarts, seconds=5)

    assert first.returncode == -signal.SIGKILL and frozen.starts == 2
    assert lines == [f"the referral stand-in (pid {first.pid}) was not answering GET /health within 0 s, 3 checks "
                     f"in a row; killed it; restarted it as pid {frozen.process.pid}"]


def test_a_service_answering_503_or_frozen_on_purpose_or_waiting_for_a_stopped_engine_is_left_alone(supervised):
    supervisor, lines, _ = supervised
    unavailable = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AnsweringUnavailable)
    threading.Thread(target=unavailable.serve_forever, daemon=True).start()
    degraded = watched_stand_in(supervised, name="journeys", kind="service",
                                url=f"http://127.0.0.1:{unavailable.server_address[1]}")
    ports = Unanswering(), Unanswering()
    frozen = watched_stand_in(supervised, name="referral", kind="service", url=ports[0].url)
    supervisor.watches["referral"].frozen = True
    waiting = watched_stand_in(supervised, name="placement", kind="service", url=ports[1].url)
    watched_stand_in(supervised, name="postgres")
    supervisor.watches["postgres"].stopped = True
    try:
        check_until(supervisor, lambda: False, seconds=2)  # ~6 health questions to each
    finally:
        unavailable.shutdown()

    assert supervisor.restarts == [] and lines == []
    assert (degraded.starts, frozen.starts, waiting.starts) == (1, 1, 1)


def test_each_child_starts_in_a_session_of_its_own_so_a_terminals_ctrl_c_reaches_only_casetrack_up(tmp_path):
    child = launch(["sleep", "60"], tmp_path / "sleep.log")
    try:
        assert os.getsid(child.pid) == child.pid != os.getsid(0)
    finally:
        child.kill()
        child.wait()


def test_processes_json_names_each_running_process_with_its_pid_kind_address_and_log(tmp_path, stand_ins):
    run = RunFolder(tmp_path / "run")
    nats, referral = StandIn("nats", url="nats://127.0.0.1:4222", port=4222), StandIn(
        "referral", kind="service", url="http://127.0.0.1:8101", port=8101, log=tmp_path / "referral.log")
    nats.start(), referral.start()
    stand_ins.extend([nats.process, referral.process])

    run.record([nats, referral])

    assert json.loads((run.path / "processes.json").read_text()) == {
        "nats": {"pid": nats.process.pid, "kind": "engine", "url": "nats://127.0.0.1:4222", "port": 4222,
                 "log": "/dev/null"},
        "referral": {"pid": referral.process.pid, "kind": "service", "url": "http://127.0.0.1:8101", "port": 8101,
                     "log": str(tmp_path / "referral.log")}}
    assert run.pid_file("referral").read_text() == f"{referral.process.pid}\n"


def wait_for(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)  # polling a process's state
