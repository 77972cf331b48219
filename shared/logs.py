"""A service's log: one JSON object a line (time, level, service, logger, message and any extra fields),
rotated by size when it goes to a file.

With `CASETRACK_LOG_DIR` set, lines go to `<log_dir>/<service>.log`, rotated at `log_max_bytes` with
`log_backups` old files kept; otherwise to stderr (where `casetrack up` points each process's output). Messages
carry ids, positions, counts and error kinds, never a young person's details: code logs `type(error).__name__`
where an error's text could quote a message. uvicorn's own loggers are routed here; its access log is off
unless `CASETRACK_ACCESS_LOG` is set, and then the path is logged without its query string.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
import time
import traceback
from datetime import UTC, datetime
from typing import Any

from shared.settings import Settings

STANDARD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "taskName", "color_message"}
"""A LogRecord's own attributes (and uvicorn's coloured copy of the message): anything else on a record is an
extra field (`log.info(..., extra={...})`)."""


class JsonLines(logging.Formatter):
    """One JSON object per record."""

    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({key: value for key, value in vars(record).items() if key not in STANDARD_FIELDS})
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)

    def formatException(self, exc_info) -> str:  # noqa: N802 - logging's name
        """The traceback's frames and each exception's kind, never the exception's text: a validation error's
        or a driver's text may quote the values a request or message held (a young person's name)."""
        chain: list[BaseException] = []
        error = exc_info[1]
        while error is not None and error not in chain:
            chain.append(error)
            error = error.__cause__ or error.__context__
        parts = []
        for error in reversed(chain):
            parts += ["Traceback (most recent call last):\n", *traceback.format_tb(error.__traceback__),
                      values_free(error) + "\n"]
        return "".join(parts).rstrip("\n")


class NoValuesInLogs(logging.Filter):
    """A validation error logged as an argument (`log.warning("... %s", error)`) is replaced by its values-free
    reasons (where, what kind): its own text quotes the values sent, which may be a young person's name."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(_validation_error(arg) for arg in record.args):
            record.args = tuple(values_free(arg) if _validation_error(arg) else arg for arg in record.args)
        elif isinstance(record.msg, BaseException) and _validation_error(record.msg):
            record.msg = values_free(record.msg)
        return True


def _validation_error(value: object) -> bool:
    return isinstance(value, BaseException) and callable(getattr(value, "errors", None))


def values_free(error: BaseException) -> str:
    """An exception as a log may show it: its kind, and for a validation error where each problem is and of
    what kind; never its text (which may quote the values it was given)."""
    kind = f"{type(error).__module__}.{type(error).__qualname__}"
    if _validation_error(error):
        try:
            problems = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('type')}" for e in error.errors()]
        except Exception:  # noqa: BLE001 - an errors() that fails still leaves the kind
            problems = []
        return f"{kind} ({'; '.join(problems)})" if problems else kind
    return kind


class AccessWithoutQuery(logging.Filter):
    """uvicorn's access line names the path only: a query string may carry a district reference or a name."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, version, status = record.args
            record.msg, record.args = "%s %s %s", (method, path.split("?", 1)[0], status)
            record.__dict__.update(client=client, http_version=version)
        return True


class PipelineEndedAfterAnError(logging.Filter):
    """psycopg warns that it ignored "pipeline aborted" while ending a pipeline after a statement failed (a used
    idempotency key, a refused row): the statement's own error is what the service reports; the echo is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("error ignored terminating")


def configure_logging(service: str, settings: Settings) -> logging.Handler:
    """Send every logger's records, uvicorn's included, to the service's JSON log; returns its handler."""
    if settings.log_dir:
        settings.log_dir.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            settings.log_dir / f"{service}.log", maxBytes=settings.log_max_bytes, backupCount=settings.log_backups,
            encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines(service))
    handler.addFilter(NoValuesInLogs())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.disabled = not settings.access_log
    access.addFilter(AccessWithoutQuery())
    logging.getLogger("psycopg").addFilter(PipelineEndedAfterAnError())
    return handler


class Trouble:
    """A failure that repeats while something is away (the database, NATS): logged when it starts (with the
    error's kind), at most every `every_seconds` while it lasts, and once when it ends; not once per retry."""

    def __init__(self, log: logging.Logger, what: str, every_seconds: float = 60.0):
        self.log = log
        self.what = what
        self.every_seconds = every_seconds
        self.since: float | None = None
        self._last_said = 0.0
        self.count = 0

    def failed(self, error: BaseException) -> None:
        now = time.monotonic()
        self.count += 1
        if self.since is None:
            self.since = self._last_said = now
            self.log.warning("%s failed: %s", self.what, type(error).__name__,
                             extra={"error_kind": type(error).__name__})
        elif now - self._last_said >= self.every_seconds:
            self._last_said = now
            self.log.warning("%s still failing after %.0f s (%s tries): %s", self.what, now - self.since,
                             self.count, type(error).__name__, extra={"error_kind": type(error).__name__})

    def ended(self) -> None:
        if self.since is not None:
            self.log.info("%s works again after %.0f s", self.what, time.monotonic() - self.since)
        self.since, self.count = None, 0
