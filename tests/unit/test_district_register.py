"""The district register read from its TOML file: councils, areas, history, dated rules and a bad file's one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared.cli import app
from shared.contracts.placement_vocabulary import PlacementRoute
from shared.contracts.vocabulary import (
    DISTRICTS,
    DistrictNotInForce,
    UnknownDistrict,
    district_in_force,
    known_district,
)
from shared.districts import (
    DEFAULT_REGISTER,
    DistrictRegister,
    DistrictRegisterInvalid,
    district_register,
    load_district_register,
    use_district_register,
)
from shared.settings import Settings

SHIPPED = DistrictRegister.read(DEFAULT_REGISTER)

COUNTIES = """
[counties.kent]
name = "Kent County Council"
rules = [{ from = 2000-01-01, routes_needing_panel = ["panel"] },
         { from = 2025-04-01, routes_needing_panel = ["panel", "emergency"] }]

[areas]
east-kent = { name = "East Kent" }
"""


def a_register_file(folder: Path, text: str, name: str = "register.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def a_register(folder: Path, districts: str, counties: str = COUNTIES) -> DistrictRegister:
    return DistrictRegister.read(a_register_file(folder, counties + districts))


ASHFORD = """
[districts.ashford]
name = "Ashford"
county = "kent"
areas = ["east-kent"]
from = 1974-04-01
"""


@pytest.fixture
def register_in_force() -> Iterator[None]:
    """Whatever a test puts in force, the shipped register is in force again after it."""
    previous = district_register()
    yield
    use_district_register(previous)


def refusal_of(register: DistrictRegister, code: str, on: date) -> str:
    with pytest.raises(DistrictNotInForce) as refused:
        register.in_force(code, on)
    return str(refused.value)


# -- the shipped register ----------------------------------------------------------------------------------------------

def test_the_shipped_register_has_every_code_casetrack_ever_had_and_the_districts_of_each_council_today():
    today = SHIPPED.on(date(2026, 1, 1))

    assert {d.code for d in today if d.county == "lancashire"} == {
        "burnley", "chorley", "fylde", "hyndburn", "lancaster", "pendle", "preston", "ribble-valley", "rossendale",
        "south-ribble", "west-lancashire", "wyre"}
    assert len([d for d in today if d.county == "kent"]) == 12
    assert [d.code for d in today if d.code.startswith("somerset") or d.county == "somerset"] == ["somerset"]
    assert {"shepway", "mendip", "taunton-deane", "west-somerset", "somerset-west-taunton"} <= set(SHIPPED.districts)


def test_kent_is_in_east_and_west_kent_lots_and_shepway_was_east_kent():
    lots = {code: SHIPPED.districts[code].areas for code in ("shepway", "folkestone-hythe", "dartford", "thanet")}

    assert lots == {"shepway": ("east-kent",), "folkestone-hythe": ("east-kent",), "dartford": ("west-kent",),
                    "thanet": ("east-kent",)}
    assert SHIPPED.areas["east-kent"] == "East Kent"


def test_shepway_was_renamed_folkestone_and_hythe_on_1_april_2018():
    shepway = SHIPPED.districts["shepway"]

    assert (shepway.in_force_until, shepway.successors, shepway.change) == (
        date(2018, 3, 31), ("folkestone-hythe",), "renamed")
    assert SHIPPED.in_force("shepway", date(2018, 3, 31)).code == "shepway"
    assert SHIPPED.in_force("folkestone-hythe", date(2018, 4, 1)).code == "folkestone-hythe"
    assert "use folkestone-hythe" in refusal_of(SHIPPED, "shepway", date(2018, 4, 1))
    assert "use shepway" in refusal_of(SHIPPED, "folkestone-hythe", date(2018, 3, 31))


def test_somersets_districts_merged_and_became_one_unitary_council_and_a_refusal_follows_the_successors_to_the_day():
    assert SHIPPED.districts["somerset"].unitary and SHIPPED.districts["somerset"].in_force_from == date(2023, 4, 1)
    assert "use somerset-west-taunton" in refusal_of(SHIPPED, "taunton-deane", date(2020, 6, 1))
    assert "use somerset" in refusal_of(SHIPPED, "taunton-deane", date(2024, 6, 1))
    assert "use somerset" in refusal_of(SHIPPED, "mendip", date(2023, 4, 1))
    assert SHIPPED.in_force("mendip", date(2023, 3, 31)).code == "mendip"


def test_the_shipped_rules_differ_between_councils_and_a_district_overrides_its_county_from_a_day():
    day = date(2026, 1, 1)

    assert SHIPPED.rules("preston", day).routes_needing_panel == {PlacementRoute.panel, PlacementRoute.placement_team}
    assert SHIPPED.rules("dover", day).routes_needing_panel == {PlacementRoute.panel}
    assert SHIPPED.rules("swale", date(2021, 3, 31)).routes_needing_panel == {PlacementRoute.panel}
    assert SHIPPED.rules("swale", date(2021, 4, 1)).routes_needing_panel == {PlacementRoute.panel,
                                                                              PlacementRoute.placement_team}
    assert PlacementRoute.pathway_plan in SHIPPED.rules("mendip", date(2020, 1, 1)).routes_needing_panel
    assert PlacementRoute.pathway_plan not in SHIPPED.rules("somerset", day).routes_needing_panel


def test_the_vocabulary_knows_every_code_ever_and_checks_a_new_fact_against_the_day():
    assert "shepway" in DISTRICTS and DISTRICTS["folkestone-hythe"] == "Folkestone and Hythe"
    assert known_district("shepway") == "shepway"
    assert district_in_force("folkestone-hythe", date(2026, 1, 1)) == "folkestone-hythe"
    with pytest.raises(DistrictNotInForce, match="folkestone-hythe"):
        district_in_force("shepway", date(2026, 1, 1))
    with pytest.raises(UnknownDistrict):
        district_in_force("atlantis", date(2026, 1, 1))


# -- dated rules, inheritance, history ---------------------------------------------------------------------------------

def test_a_district_inherits_its_countys_rule_in_force_on_the_day(tmp_path):
    register = a_register(tmp_path, ASHFORD)

    assert register.rules("ashford", date(2025, 3, 31)).routes_needing_panel == {PlacementRoute.panel}
    assert register.rules("ashford", date(2025, 4, 1)).routes_needing_panel == {PlacementRoute.panel,
                                                                                 PlacementRoute.emergency}


def test_a_districts_own_rule_overrides_its_countys_from_its_day_on_even_after_the_county_changes(tmp_path):
    register = a_register(tmp_path, ASHFORD + 'rules = [{ from = 2024-01-01, routes_needing_panel = [] }]\n')

    assert register.rules("ashford", date(2023, 12, 31)).routes_needing_panel == {PlacementRoute.panel}
    assert register.rules("ashford", date(2024, 1, 1)).routes_needing_panel == frozenset()
    assert register.rules("ashford", date(2026, 1, 1)).routes_needing_panel == frozenset()


def test_before_any_rule_takes_effect_only_the_panel_route_needs_a_panel(tmp_path):
    register = a_register(tmp_path, ASHFORD)

    assert register.rules("ashford", date(1990, 1, 1)).routes_needing_panel == {PlacementRoute.panel}


def test_a_unitary_council_has_its_own_rules_and_no_county(tmp_path):
    register = a_register(tmp_path, """
[districts.medway]
name = "Medway"
unitary = true
from = 1998-04-01
rules = [{ from = 1998-04-01, routes_needing_panel = ["panel", "children_services"] }]
""")

    assert register.districts["medway"].unitary
    assert register.rules("medway", date(2026, 1, 1)).routes_needing_panel == {PlacementRoute.panel,
                                                                                PlacementRoute.children_services}
    assert "in force from 1998-04-01" in refusal_of(register, "medway", date(1998, 3, 31))


def test_a_district_split_in_two_names_both_successors_when_it_refuses(tmp_path):
    register = a_register(tmp_path, """
[districts.old]
name = "Old"
county = "kent"
from = 1974-04-01
until = 2020-03-31
successors = ["north", "south"]
change = "split"

[districts.north]
name = "North"
county = "kent"
from = 2020-04-01

[districts.south]
name = "South"
county = "kent"
from = 2020-04-01
""")

    assert "use north or south" in refusal_of(register, "old", date(2020, 4, 1))


def test_the_rules_of_an_ended_district_go_on_being_its_countys_for_the_cases_recorded_under_it():
    assert SHIPPED.rules("shepway", date(2026, 1, 1)) == SHIPPED.rules("folkestone-hythe", date(2026, 1, 1))


# -- a file that cannot be used ----------------------------------------------------------------------------------------

WITH_KENT = COUNTIES + ASHFORD
BAD_FILES = [
    ("not toml", "[districts\n", "is not valid TOML"),
    ("no districts", COUNTIES, "districts: Field required"),
    ("a misspelt key", WITH_KENT.replace("areas =", "area ="),
     "districts.ashford.area: Extra inputs are not permitted"),
    ("a code that is no subject token", WITH_KENT.replace("districts.ashford", 'districts."Ashford Borough"'),
     "String should match pattern"),
    ("an unknown route", WITH_KENT + 'rules = [{ from = 2020-01-01, routes_needing_panel = ["tribunal"] }]\n',
     "districts.ashford.rules.0.routes_needing_panel.0: Input should be 'panel'"),
    ("a rule without its day", WITH_KENT + 'rules = [{ routes_needing_panel = ["panel"] }]\n',
     "districts.ashford.rules.0.from: Field required"),
    ("a day that is no day", WITH_KENT.replace("1974-04-01", '"April 1974"'),
     "districts.ashford.from: Input should be"),
    ("an unknown county", WITH_KENT.replace('county = "kent"', 'county = "kent-cc"'),
     "districts.ashford.county: kent-cc is not in [counties] (kent)"),
    ("neither county nor unitary", WITH_KENT.replace('county = "kent"\n', ""),
     "districts.ashford: give either county"),
    ("an unknown area", WITH_KENT.replace('["east-kent"]', '["mid-kent"]'),
     "districts.ashford.areas: mid-kent is not in"),
    ("an end before the start", WITH_KENT + 'until = 1970-01-01\nchange = "abolished"\n', "is before from"),
    ("an end without successors", WITH_KENT + "until = 2020-01-01\n", "ended on 2020-01-01 without successors"),
    ("a successor not in the register", WITH_KENT + 'until = 2020-01-01\nsuccessors = ["ashford-new"]\n',
     "districts.ashford.successors: ashford-new is not in [districts]"),
    ("a successor not in force the day after", WITH_KENT + 'until = 2020-01-01\nsuccessors = ["later"]\n'
     '[districts.later]\nname = "Later"\ncounty = "kent"\nfrom = 2021-01-01\n',
     "districts.ashford.successors: later is not in force on 2020-01-02"),
    ("two rules on one day", WITH_KENT + 'rules = [{ from = 2020-01-01, routes_needing_panel = [] },'
                                        ' { from = 2020-01-01, routes_needing_panel = ["panel"] }]\n',
     "districts.ashford.rules: two entries take effect on 2020-01-01"),
]


@pytest.mark.parametrize(("text", "problem"), [(text, problem) for _, text, problem in BAD_FILES],
                         ids=[name for name, _, _ in BAD_FILES])
def test_a_register_file_that_cannot_be_used_is_refused_in_one_line_naming_the_file_and_the_problem(
        tmp_path, text, problem):
    path = a_register_file(tmp_path, text)

    with pytest.raises(DistrictRegisterInvalid) as refused:
        DistrictRegister.read(path)

    message = str(refused.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert problem in message


def test_a_missing_register_file_is_refused_naming_it(tmp_path):
    with pytest.raises(DistrictRegisterInvalid, match="absent.toml: cannot be read"):
        DistrictRegister.read(tmp_path / "absent.toml")


# -- the register in force in a process --------------------------------------------------------------------------------

def test_the_settings_name_the_register_put_in_force_and_the_vocabulary_follows_it(tmp_path, register_in_force):
    path = a_register_file(tmp_path, COUNTIES + ASHFORD)

    load_district_register(Settings(district_register_file=path, environment="test"))

    assert list(DISTRICTS) == ["ashford"] and known_district("ashford") == "ashford"
    with pytest.raises(UnknownDistrict):
        known_district("preston")


def test_without_the_setting_the_shipped_register_is_in_force(register_in_force):
    assert load_district_register(Settings(environment="test")).source == DEFAULT_REGISTER


def test_the_districts_command_prints_the_register_in_force_on_a_day(tmp_path, register_in_force, monkeypatch):
    monkeypatch.delenv("CASETRACK_DISTRICT_REGISTER_FILE", raising=False)

    shown = CliRunner().invoke(app, ["districts", "--on", "2020-06-01", "--json"])

    assert shown.exit_code == 0, shown.output
    rows = {row["code"]: row for row in json.loads(shown.output)["districts"]}
    assert "shepway" not in rows and "somerset" not in rows
    assert rows["folkestone-hythe"]["areas"] == ["East Kent"]
    assert rows["somerset-west-taunton"] | {"routes_needing_panel": None} == {
        "code": "somerset-west-taunton", "name": "Somerset West and Taunton", "council": "Somerset County Council",
        "areas": ["P2i West Somerset"], "from": "2019-04-01", "until": "2023-03-31", "successors": ["somerset"],
        "change": "merged", "routes_needing_panel": None}


def test_a_bad_register_file_stops_a_command_with_one_line_not_a_traceback(tmp_path, register_in_force, monkeypatch):
    path = a_register_file(tmp_path, COUNTIES + ASHFORD.replace('county = "kent"', 'county = "kent-cc"'))
    monkeypatch.setenv("CASETRACK_DISTRICT_REGISTER_FILE", str(path))

    shown = CliRunner().invoke(app, ["districts"])

    assert shown.exit_code == 2
    assert "Traceback" not in shown.output
    assert "bad district register" in shown.output and "kent-cc is not in [counties]" in shown.output
