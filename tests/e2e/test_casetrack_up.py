"""`casetrack up`, the README's first command, as a user runs it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests.e2e.helpers import a_referral, system_settings


def casetrack_up(data_dir: Path, settings) -> subprocess.Popen:
    env = {**os.environ, "CASETRACK_DATA_DIR": str(data_dir), "CASETRACK_BASE_PORT": str(settings.base_port),
           "CASETRACK_NATS_PORT": str(settings.nats_port), "CASETRACK_POSTGRES_PORT": str(settings.postgres_port),
           "COLUMNS": "200"}
    return subprocess.Popen([sys.executable, "-m", "shared.cli", "up"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def read_until_up(process: subprocess.Popen) -> str:
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("Ctrl-C stops everything"):
            return "".join(seen)
    raise AssertionError("casetrack up ended before it was up:\n" + "".join(seen) + process.stderr.read())


def stop(process: subprocess.Popen) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=60)
    return process.returncode, rest


def test_casetrack_up_runs_everything_prints_urls_and_an_example_then_stops_on_sigterm_and_carries_on(tmp_path):
    settings = system_settings(tmp_path)
    referral_url = f"http://127.0.0.1:{settings.base_port + 1}"
    journeys_url = f"http://127.0.0.1:{settings.base_port + 5}"

    first = casetrack_up(tmp_path, settings)
    shown = read_until_up(first)
    assert f"{referral_url}/docs" in shown and f"{journeys_url}/docs" in shown
    assert "curl -s -X POST" in shown
    example_body = shown.split(" -d '", 1)[1].split("'", 1)[0]  # the printed example, posted as printed
    response = httpx.post(f"{referral_url}/referrals", content=example_body,
                          headers={"content-type": "application/json"})
    assert response.status_code == 201, response.text
    written = response.json()
    code, rest = stop(first)
    assert code == 0 and "stopped." in rest

    again = casetrack_up(tmp_path, settings)
    read_until_up(again)
    try:
        kept = httpx.get(f"{journeys_url}/journeys/{written['case_id']}", params={"after": written["position"]})
        next_write = httpx.post(f"{referral_url}/referrals", json=a_referral()).json()
    finally:
        code, _ = stop(again)
    assert kept.status_code == 200 and kept.json()["steps"][0]["event_type"] == "ReferralMade"
    assert next_write["position"] == "referral:2"
    assert code == 0


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
