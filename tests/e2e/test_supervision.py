"""`casetrack up`'s supervision, on a supervised System of its own (the referral and journeys services): whatever is
killed or freezes is restarted and the system heals; an outage made on purpose is left alone; what an earlier run
left running is stopped before the next starts."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import httpx
import psutil
import pytest

from shared.devservers import System
from tests.e2e.helpers import a_referral, auth_headers, system_settings

SERVICES = ["referral", "journeys"]


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    running = System(system_settings(tmp_path_factory.mktemp("supervised")), services=SERVICES)
    running.start(supervise=True)
    yield running
    running.stop()


@pytest.fixture
def referral(system: System) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.services["referral"].url, timeout=30, headers=auth_headers(system)) as client:
        yield client


def restart_of(system: System, name: str, seconds: float = 30) -> str:
    """Wait for the supervisor's restart of `name` and answer the log line it wrote about it."""
    deadline = time.monotonic() + seconds
    while not [r for r in system.restarts if r.name == name]:
        assert time.monotonic() < deadline, f"{name} was not restarted within {seconds} s"
        time.sleep(0.1)  # polling the supervisor's record of restarts
    [restart] = [r for r in system.restarts if r.name == name]
    system.restarts.remove(restart)  # the next test waits for a restart of its own
    [line] = [line for line in system.journal.path.read_text().splitlines()
              if f"(pid {restart.old_pid})" in line and "restarted it as pid" in line]
    return line


def a_referral_is_kept_and_projected(system: System, referral: httpx.Client) -> None:
    """As a client does: a 503 (the store's connections still coming back a moment after a restart) is retried
    after its Retry-After."""
    deadline = time.monotonic() + 10
    answer = referral.post("/referrals", json=a_referral())
    while answer.status_code == 503 and time.monotonic() < deadline:
        time.sleep(float(answer.headers["Retry-After"]))  # the wait the service asked for
        answer = referral.post("/referrals", json=a_referral())
    assert answer.status_code == 201, answer.text
    written = answer.json()
    journey = httpx.get(f"{system.services['journeys'].url}/journeys/{written['case_id']}", headers=referral.headers,
                        params={"after": written["position"]}, timeout=30)
    assert journey.status_code == 200, journey.text


def test_kill_9_of_nats_server_is_reaped_restarted_logged_and_the_services_reconnect(system: System, referral):
    killed = system.pid("nats")

    system.kill("nats")

    line = restart_of(system, "nats")
    assert f"nats-server (pid {killed}) died, killed by SIGKILL; restarted it as pid {system.pid('nats')}" in line
    assert not psutil.pid_exists(killed)  # reaped, not left a zombie
    system.wait_until_healed(timeout=60)
    a_referral_is_kept_and_projected(system, referral)
    assert processes_json(system)["nats"]["pid"] == system.pid("nats")


def test_kill_9_of_the_postmaster_is_restarted_once_its_backends_are_gone_and_writes_work_again(
        system: System, referral):
    killed = system.pid("postgres")

    system.kill("postgres")

    line = restart_of(system, "postgres")
    assert f"PostgreSQL (pid {killed}) died, killed by SIGKILL; restarted it as pid" in line
    assert [p for p in psutil.process_iter() if pgid(p.pid) == killed] == []  # no backend of it lingers
    system.wait_until_healed(timeout=60)
    a_referral_is_kept_and_projected(system, referral)


def test_kill_9_of_a_service_is_restarted(system: System, referral):
    killed = system.pid("referral")

    system.kill("referral")

    assert f"referral (pid {killed}) died, killed by SIGKILL" in restart_of(system, "referral")
    system.wait_until_healed(timeout=60)
    a_referral_is_kept_and_projected(system, referral)


def test_a_frozen_service_is_killed_and_restarted_but_one_frozen_on_purpose_is_left_alone(system: System, referral):
    frozen, on_purpose = system.pid("referral"), system.pid("journeys")
    started = time.monotonic()

    os.kill(frozen, signal.SIGSTOP)
    system.freeze("journeys")

    line = restart_of(system, "referral", seconds=20)
    assert time.monotonic() - started < 12
    assert f"referral (pid {frozen}) was not answering GET /health within 2 s, 3 checks in a row; killed it" in line
    assert system.pid("journeys") == on_purpose and not [r for r in system.restarts if r.name == "journeys"]
    system.thaw("journeys")
    system.wait_until_healed(timeout=60)
    a_referral_is_kept_and_projected(system, referral)


def test_an_engine_stopped_on_purpose_stays_down_until_started_again_and_no_service_is_restarted_meanwhile(
        system: System, referral):
    system.stop_engine("postgres")
    down_until = time.monotonic() + 5
    while time.monotonic() < down_until:  # the outage lasts; the supervisor must not end it
        assert system.postgres.process.poll() is not None
        time.sleep(0.2)  # checking, throughout the outage, that nothing restarted PostgreSQL

    system.start_engine("postgres")

    system.wait_until_healed(timeout=60)
    assert system.restarts == []
    a_referral_is_kept_and_projected(system, referral)


def test_what_a_dropped_system_left_running_is_stopped_and_the_next_one_on_its_data_folder_starts(tmp_path):
    settings = system_settings(tmp_path)
    dropped = System(settings, services=["referral"])
    dropped.start()
    left = {name: dropped.pid(name) for name in ("nats", "postgres", "referral")}
    (tmp_path / "run" / "postgres.pid").unlink()  # as if PostgreSQL had been started by hand on the data folder

    again = System(settings, services=["referral"])
    try:
        again.start()
        log = again.journal.path.read_text()
        assert again.services["referral"].healthy()
    finally:
        again.stop()
    for program, name in (("referral", "referral"), ("PostgreSQL", "postgres"), ("nats-server", "nats")):
        assert f"{program} (pid {left[name]}) was left over from a previous run; stopping it" in log
    assert [name for name, pid in left.items() if still_runs(pid)] == []


def processes_json(system: System) -> dict:
    import json

    return json.loads((system.settings.data_dir / "run" / "processes.json").read_text())


def pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def still_runs(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
