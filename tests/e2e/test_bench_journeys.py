"""`casetrack bench --young-people N --journeys-only` rebuilds a small synthetic county into the journeys projections
and reports the rebuild, the journey and each pathway map filter beside their baselines, with what it generated.

Nothing here times anything: the figures are only checked to exist."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.bench_journeys import map_filters


@pytest.mark.timeout(600)
def test_a_small_journeys_bench_reports_its_figures_and_what_it_generated(tmp_path: Path):
    report = tmp_path / "bench.json"

    finished = subprocess.run([sys.executable, "-m", "shared.cli", "bench", "--young-people", "40", "--journeys-only",
                               "--json", str(report)],
                              cwd=Path(__file__).parents[2], capture_output=True, text=True, timeout=570,
                              env={**os.environ, "COLUMNS": "200"})

    assert finished.returncode == 0, finished.stderr[-2000:]
    measured = json.loads(report.read_text())
    assert set(measured["baselines"]) == {"postgres_copy_journeys", "postgres_key_lookup"}
    assert len(measured["figures"]) == 2 + len(map_filters("dover"))
    assert {"journeys_rebuild", "journey_p95", "pathway_map_none"} <= set(measured["figures"])
    assert all(figure["value"] > 0 and figure["baseline"]["value"] > 0 for figure in measured["figures"].values())
    generated = {row["events"]: row["count"] for row in measured["details"]["journeys: events generated"]}
    assert generated["ReferralMade"] >= 40 and generated["all"] == sum(
        count for kind, count in generated.items() if kind != "all")
    assert measured["size"]["young_people"] == 40
    assert "journeys rebuild" in finished.stdout and "pathway map p95, none" in finished.stdout
