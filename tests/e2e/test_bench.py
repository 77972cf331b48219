"""`casetrack bench --tiny` runs every measurement on servers of its own and reports each beside its baseline.

Nothing here times anything: the figures are only checked to exist."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from shared.bench import BASELINES, FIGURES


@pytest.mark.timeout(600)
def test_a_tiny_bench_reports_every_figure_beside_a_positive_baseline_as_json(tmp_path: Path):
    report = tmp_path / "bench.json"

    finished = subprocess.run([sys.executable, "-m", "shared.cli", "bench", "--tiny", "--json", str(report)],
                              cwd=Path(__file__).parents[2], capture_output=True, text=True, timeout=570)

    assert finished.returncode == 0, finished.stderr[-2000:]
    measured = json.loads(report.read_text())
    assert set(measured["baselines"]) == set(BASELINES)
    assert all(reading["value"] > 0 for reading in measured["baselines"].values())
    assert set(measured["figures"]) == set(FIGURES) >= {"relay", "http_referrals", "district_ingest"}
    for name, figure in measured["figures"].items():
        assert figure["value"] > 0, name
        assert figure["baseline"]["value"] > 0 and figure["baseline"]["name"] in BASELINES, name
        assert figure["ratio"] == pytest.approx(figure["value"] / figure["baseline"]["value"]), name
    assert measured["machine"]["cpus"] >= 1
