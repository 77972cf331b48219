"""`casetrack chaos`, as an operator runs it against the system `casetrack up` is running."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.e2e.helpers import system_settings
from tests.e2e.test_casetrack_up import casetrack_up, read_until_up, stop


def test_casetrack_chaos_kills_each_service_of_a_running_system_and_finds_nothing_lost_or_doubled(tmp_path):
    settings = system_settings(tmp_path)
    up = casetrack_up(tmp_path, settings)
    read_until_up(up)
    try:
        chaos = subprocess.run(
            [sys.executable, "-m", "shared.cli", "chaos", "--fault", "poison", "--fault", "kill-services",
             "--scale", "0.5", "--json", str(tmp_path / "chaos.json")],
            env={**os.environ, "CASETRACK_DATA_DIR": str(tmp_path), "CASETRACK_BASE_PORT": str(settings.base_port),
                 "CASETRACK_NATS_PORT": str(settings.nats_port),
                 "CASETRACK_POSTGRES_PORT": str(settings.postgres_port), "COLUMNS": "200"},
            capture_output=True, text=True, timeout=240)
    finally:
        code, _, errors = stop(up)

    assert chaos.returncode == 0, chaos.stdout + chaos.stderr
    faults = json.loads((tmp_path / "chaos.json").read_text())["faults"]
    assert [(f["fault"], f["problems"]) for f in faults] == [("poison", []), ("kill-services", [])]
    assert set(faults[1]["detail"]["healed_s"]) == {"referral", "placement", "outcomes", "finance", "journeys"}
    assert code == 0
    for service in ("referral", "placement", "journeys"):  # casetrack up restarted each one chaos killed
        assert f"{service} (pid" in errors and "died, killed by SIGKILL; restarted" in errors
