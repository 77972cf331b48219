"""Bad input never comes back or reaches the log with its values: 422 bodies say where and what kind, a 500 and
its log line name the error's kind only, and a validation error logged as an argument loses its values."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import date

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field, ValidationError

from shared.errors import map_domain_errors, without_values
from shared.logs import configure_logging
from shared.settings import Settings

NAME = "Zephyrine-Quillfeather"
BORN = "1990-02-31"
PHONE = "07700 987654"


class Person(BaseModel):
    given_name: str = Field(max_length=10)
    date_of_birth: date
    phone: str = Field(pattern=r"^\+44")


def an_app() -> FastAPI:
    app = FastAPI()
    map_domain_errors(app)

    @app.post("/people")
    def add(person: Person) -> dict:
        return {}

    @app.post("/checked-late")
    def checked_late(body: dict) -> dict:
        Person.model_validate(body)  # bad input found inside the route: a 500 (a bug), with the values in hand
        return {}

    return app


@pytest.fixture
def log_file(tmp_path) -> Iterator:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    configure_logging("referral", Settings(log_dir=tmp_path, environment="test"))
    yield tmp_path / "referral.log"
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def bad_person() -> dict:
    return {"given_name": NAME, "date_of_birth": BORN, "phone": PHONE}


def test_a_422_says_where_and_what_kind_but_never_echoes_the_values():
    response = TestClient(an_app()).post("/people", json=bad_person())

    assert response.status_code == 422
    reasons = response.json()["detail"]
    assert {tuple(r["loc"]) for r in reasons} == {("body", "given_name"), ("body", "date_of_birth"),
                                                  ("body", "phone")}
    assert all("input" not in r for r in reasons)
    assert any(r.get("ctx") == {"pattern": r"^\+44"} for r in reasons)  # the rule broken is still shown
    for value in (NAME, BORN, PHONE, "07700"):
        assert value not in response.text


def test_a_body_that_is_not_json_is_a_422_without_the_body():
    response = TestClient(an_app()).post("/people", content=f'{{"given_name": "{NAME}", ',
                                         headers={"content-type": "application/json"})

    assert response.status_code == 422 and NAME not in response.text


def test_bad_input_that_causes_a_500_leaves_its_values_out_of_the_answer_and_the_log(log_file):
    response = TestClient(an_app(), raise_server_exceptions=False).post("/checked-late", json=bad_person())

    assert response.status_code == 500 and "ValidationError" in response.text
    logged = log_file.read_text()
    assert "answered 500: ValidationError" in logged
    for value in (NAME, BORN, PHONE):
        assert value not in response.text and value not in logged


def test_the_log_filter_keeps_a_validation_errors_places_and_drops_its_values(log_file):
    try:
        Person.model_validate(bad_person())
    except ValidationError as error:
        logging.getLogger("services.referral").warning("could not read a referral: %s", error)
        logging.getLogger("services.referral").exception("and with its traceback")

    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert "given_name: string_too_long" in lines[0]["message"]
    assert lines[1]["error"].startswith("Traceback") and "ValidationError" in lines[1]["error"]
    for value in (NAME, BORN, PHONE):
        assert value not in log_file.read_text()


def test_without_values_drops_input_and_context_that_repeats_it():
    shown = without_values([{"loc": ("body", "x"), "msg": "Value error, bad", "type": "value_error",
                             "input": NAME, "ctx": {"error": ValueError(NAME)}, "url": "https://errors"}])

    assert shown == [{"loc": ["body", "x"], "msg": "Value error, bad", "type": "value_error"}]
