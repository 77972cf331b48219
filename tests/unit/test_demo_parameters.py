"""The demo county's parameters: the shipped file reads, and a bad file is refused naming each key and why."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from shared.demo.parameters import SHIPPED, ParametersRefused, load_parameters


def a_parameters_file(tmp_path: Path, change) -> Path:
    data = yaml.safe_load(SHIPPED.read_text())
    change(data)
    path = tmp_path / "county.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def refusal_of(path: Path) -> dict[str, str]:
    with pytest.raises(ParametersRefused) as refused:
        load_parameters(path)
    return dict(refused.value.problems)


def test_the_shipped_county_has_lancashires_368_block_places_by_type():
    parameters = load_parameters()

    lancashire = {kind.value: sum(units for code, units in provision.units.items() if code != "somerset")
                  for kind, provision in parameters.provision.items()}
    assert {kind: lancashire[kind] for kind in ("core_24_7", "visiting_support", "supported_lodgings",
                                                  "teenage_parent_service")} == {
        "core_24_7": 197, "visiting_support": 134, "supported_lodgings": 22, "teenage_parent_service": 15}
    assert {d.tier for d in parameters.districts} == {"two_tier", "unitary"}
    assert parameters.cohorts["care_leaver"].share == 0.40


def test_unknown_keys_and_impossible_values_are_refused_with_their_key_paths(tmp_path):
    def spoil(data):
        data["colour"] = "red"
        data["prevention"]["eligible"] = 1.5
        data["provision"]["core_24_7"]["units"]["preston"] = -1
        data["panel"]["decisions"]["defer"] = 0.5

    problems = refusal_of(a_parameters_file(tmp_path, spoil))

    assert problems["colour"] == "unknown key"
    assert "less than or equal to 1" in problems["prevention.eligible"]
    assert "greater than or equal to 0" in problems["provision.core_24_7.units.preston"]
    assert "must sum to 1" in problems["panel.decisions"]


def test_a_district_the_register_does_not_have_or_of_the_wrong_tier_is_refused(tmp_path):
    def spoil(data):
        data["districts"][0]["code"] = "atlantis"
        data["districts"][1]["tier"] = "unitary"

    [reason] = refusal_of(a_parameters_file(tmp_path, spoil)).values()

    assert "'atlantis' is not in the district register" in reason
    assert "'lancaster' is two-tier in the district register" in reason


def test_a_district_not_in_force_on_every_simulated_day_is_refused():
    parameters = load_parameters()

    with pytest.raises(ParametersRefused) as refused:
        parameters.check_in_force(date(2021, 1, 1), date(2023, 12, 31))

    [(key, reason)] = refused.value.problems
    assert key == "districts.12.code" and "somerset is in force from 2023-04-01" in reason


def test_a_file_that_is_not_yaml_is_refused_with_its_line(tmp_path):
    path = tmp_path / "county.yaml"
    path.write_text("name: [unclosed\n")

    assert list(refusal_of(path)) == ["line 2"]
