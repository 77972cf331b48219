"""A service's log: JSON lines, rotated by size, uvicorn's access lines without query strings."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from shared.logs import Trouble, configure_logging
from shared.settings import Settings


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("uvicorn.access").disabled = False


def test_each_record_is_one_json_line_with_its_service_logger_and_extra_fields(tmp_path, restored_logging):
    configure_logging("referral", Settings(log_dir=tmp_path))

    logging.getLogger("shared.outbox").warning("relay at %s", 12, extra={"published_position": 12})
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("shared.projections").exception("failed")

    first, second = [json.loads(line) for line in (tmp_path / "referral.log").read_text().splitlines()]
    assert {k: first[k] for k in ("level", "service", "logger", "message", "published_position")} == {
        "level": "WARNING", "service": "referral", "logger": "shared.outbox", "message": "relay at 12",
        "published_position": 12}
    assert first["time"].endswith("+00:00")
    assert second["error"].startswith("Traceback") and "builtins.ValueError" in second["error"]
    assert "ValueError: boom" not in second["error"]  # its text may quote personal data


def test_the_log_file_is_rotated_at_its_size_keeping_a_few(tmp_path, restored_logging):
    configure_logging("journeys", Settings(log_dir=tmp_path, log_max_bytes=2_000, log_backups=2))

    for n in range(200):
        logging.getLogger("shared.service").info("line %s", n)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["journeys.log", "journeys.log.1", "journeys.log.2"]
    assert all(p.stat().st_size <= 2_000 for p in tmp_path.iterdir())


def test_an_access_line_names_the_path_without_its_query(tmp_path, restored_logging):
    configure_logging("referral", Settings(log_dir=tmp_path, access_log=True))

    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET",
                                             "/people?name=Sam", "1.1", 200)

    [line] = [json.loads(line) for line in (tmp_path / "referral.log").read_text().splitlines()]
    assert line["message"] == "GET /people 200" and "Sam" not in json.dumps(line)


def test_the_access_log_is_off_unless_asked_for(tmp_path, restored_logging):
    configure_logging("referral", Settings(log_dir=tmp_path))

    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", "/health", "1.1", 200)

    assert (tmp_path / "referral.log").read_text() == ""


def test_a_repeated_failure_is_logged_when_it_starts_and_when_it_ends_not_at_every_try(caplog):
    trouble = Trouble(logging.getLogger("test"), "the relay")

    with caplog.at_level(logging.INFO, logger="test"):
        for _ in range(50):
            trouble.failed(ConnectionRefusedError("refused"))
        trouble.ended()

    assert [r.getMessage().split(":")[0].split(" after")[0] for r in caplog.records] == [
        "the relay failed", "the relay works again"]
