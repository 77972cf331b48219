"""`casetrack up`, the README's first command, as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from shared.auth import embedded_signing_key, mint_token
from shared.settings import SERVICES
from tests.e2e.helpers import a_referral, system_settings


def casetrack_up(data_dir: Path, settings) -> subprocess.Popen:
    env = {**os.environ, "CASETRACK_DATA_DIR": str(data_dir), "CASETRACK_BASE_PORT": str(settings.base_port),
           "CASETRACK_NATS_PORT": str(settings.nats_port), "CASETRACK_POSTGRES_PORT": str(settings.postgres_port),
           "COLUMNS": "200"}
    return subprocess.Popen([sys.executable, "-m", "shared.cli", "up"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)  # a process group of its own, as in a terminal


def read_until_up(process: subprocess.Popen) -> str:
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("Ctrl-C stops everything"):
            return "".join(seen)
    raise AssertionError("casetrack up ended before it was up:\n" + "".join(seen) + process.stderr.read())


def stop(process: subprocess.Popen) -> tuple[int, str, str]:
    process.send_signal(signal.SIGTERM)
    rest, errors = process.communicate(timeout=60)
    return process.returncode, rest, errors


def ctrl_c(process: subprocess.Popen) -> tuple[int, str, str]:
    """What a terminal does on Ctrl-C: SIGINT to every process of the foreground process group."""
    os.killpg(process.pid, signal.SIGINT)
    rest, errors = process.communicate(timeout=60)
    return process.returncode, rest, errors


def running_processes(data_dir: Path) -> dict[str, int]:
    return {name: entry["pid"] for name, entry in json.loads((data_dir / "run" / "processes.json").read_text()).items()}


def wait_for_line(log: Path, part: str, seconds: float = 30) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = [line for line in log.read_text().splitlines() if part in line] if log.exists() else []
        if found:
            return found[0]
        time.sleep(0.1)  # polling casetrack up's log
    raise AssertionError(f"no line with {part!r} in {log}")


def stop_order(log: Path) -> list[set[str]]:
    """What casetrack up's log says it stopped, in order, those stopped together (the services) in one set."""
    order: list[set[str]] = []
    for line in log.read_text().splitlines():
        words = line.split(" ")
        stopped = words[2] if words[1] == "stopped" else words[1] if " did not stop within " in line else None
        if stopped in SERVICES and order and order[-1] <= set(SERVICES):
            order[-1].add(stopped)
        elif stopped:
            order.append({stopped})
    return order


def left_alive(pids: dict[str, int]) -> list[str]:
    """The names whose process, or (PostgreSQL's backends) any process of its group, still runs."""
    alive = []
    for name, pid in pids.items():
        for process in psutil.process_iter():
            try:
                if (process.pid == pid or os.getpgid(process.pid) == pid) and process.status() != psutil.STATUS_ZOMBIE:
                    alive.append(name)
                    break
            except (ProcessLookupError, psutil.Error):
                continue
    return alive


def test_casetrack_up_runs_everything_prints_urls_and_an_example_then_stops_on_sigterm_or_ctrl_c_and_carries_on(
        tmp_path):
    settings = system_settings(tmp_path)
    referral_url = f"http://127.0.0.1:{settings.base_port + 1}"
    journeys_url = f"http://127.0.0.1:{settings.base_port + 5}"

    first = casetrack_up(tmp_path, settings)
    shown = read_until_up(first)
    assert f"{referral_url}/docs" in shown and f"{journeys_url}/docs" in shown
    assert "curl -s -X POST" in shown
    example_body = shown.split(" -d '", 1)[1].split("'", 1)[0]  # the printed example, posted as printed
    assert "Authorization: Bearer $(casetrack token --role childrens_services)" in shown
    caller = token_headers(tmp_path, "childrens_services")
    response = httpx.post(f"{referral_url}/referrals", content=example_body,
                          headers={"content-type": "application/json", **caller})
    assert response.status_code == 201, response.text
    written = response.json()
    code, rest, _ = stop(first)
    assert code == 0 and "stopped." in rest

    again = casetrack_up(tmp_path, settings)
    shown_again = read_until_up(again)
    running = running_processes(tmp_path)
    recorded = (tmp_path / "run" / "processes.json").read_text()
    try:
        kept = httpx.get(f"{journeys_url}/journeys/{written['case_id']}", params={"after": written["position"]},
                         headers=token_headers(tmp_path, "admin"))
        next_write = httpx.post(f"{referral_url}/referrals", json=a_referral(), headers=caller).json()
    finally:
        code, rest, _ = ctrl_c(again)
    assert kept.status_code == 200 and kept.json()["steps"][0]["event_type"] == "ReferralMade"
    assert next_write["position"] == "referral:2"
    assert code == 0 and "stopped." in rest
    nats_log = (tmp_path / "nats" / "nats-server.log").read_text()  # Ctrl-C reached only casetrack up, which ...
    assert 'Trapped "interrupt" signal' not in nats_log and 'Trapped "terminated" signal' in nats_log  # ... stopped it
    assert left_alive(running) == []
    # The keys casetrack up made on first start are kept, owner-only, and PostgreSQL's password is never shown.
    secrets = tmp_path / "secrets"
    assert {f.name for f in secrets.iterdir()} == {
        "vault-key", "placement-id-key", "idempotency-key", "postgres-password", "token-signing-key.pem",
        "token-public-key.pem", "nats-admin.json", *(f"nats-{service}.json" for service in SERVICES)}
    assert all(f.stat().st_mode & 0o077 == 0 for f in [secrets, *secrets.iterdir()])
    password = (secrets / "postgres-password").read_text().strip()
    journal = (tmp_path / "logs" / "casetrack-up.log").read_text()
    assert f"postgresql://postgres@127.0.0.1:{settings.postgres_port}/casetrack" in shown
    assert all(password not in text for text in (shown, shown_again, rest, recorded, journal))


def test_casetrack_up_restarts_a_killed_engine_then_stops_services_before_engines_and_leaves_nothing_running(
        tmp_path):
    settings = system_settings(tmp_path)
    log = tmp_path / "logs" / "casetrack-up.log"
    up = casetrack_up(tmp_path, settings)
    read_until_up(up)
    try:
        started = running_processes(tmp_path)
        os.kill(started["nats"], signal.SIGKILL)
        restarted = wait_for_line(log, f"nats-server (pid {started['nats']}) died, killed by SIGKILL; restarted")
        running = running_processes(tmp_path)
    finally:
        code, rest, errors = stop(up)

    assert code == 0 and "stopped." in rest
    assert restarted.split(" ", 1)[1] in errors  # on the console too
    assert running["nats"] != started["nats"] and running["nats"] == int(restarted.rsplit(" ", 1)[1])
    assert stop_order(log) == [set(SERVICES), {"PostgreSQL"}, {"nats-server"}]
    assert left_alive(running) == []
    assert not (tmp_path / "run" / "processes.json").exists()


def test_a_port_already_taken_is_a_one_line_error_not_a_traceback(tmp_path):
    settings = system_settings(tmp_path)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", settings.nats_port))
        squatter.listen()
        process = casetrack_up(tmp_path, settings)
        _, errors = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "Traceback" not in errors
    [line] = [line for line in errors.splitlines() if line.strip()]
    assert f"port {settings.nats_port}" in line and "already taken" in line


def token_headers(data_dir: Path, role: str) -> dict[str, str]:
    """A token minted with the key `casetrack up` made in `data_dir` (what `casetrack token` prints)."""
    return {"Authorization": f"Bearer {mint_token(embedded_signing_key(data_dir), role=role)}"}
