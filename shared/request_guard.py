"""What every request passes before a route sees it, and what every answer carries (pure ASGI, outermost).

- A body over `max_request_bytes` is a 413: at once when its Content-Length says so (nothing is read), or as
  soon as a streamed (chunked) body passes the limit.
- A JSON body is parsed strictly: NaN, Infinity and numbers too large for a float, lone surrogates (`"\\ud800"`),
  NUL (`"\\u0000"`) in any string or member name, and bytes that are not UTF-8 are a 422 whose reasons name
  where, never what. A JSON body that passes is handed on unchanged (FastAPI and the idempotency middleware
  read it again); a body that is not JSON at all is left to FastAPI's own 422. A body of another media type
  must be UTF-8 (every route takes JSON, and FastAPI's 422 quotes what it was given).
- NUL in the path or the query string is a 422 too: nothing that PostgreSQL cannot store reaches a route.
- Every answer says `Cache-Control: no-store` and `X-Content-Type-Options: nosniff`: answers hold case data,
  which no cache keeps and no browser reinterprets.
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024
MOST_REASONS = 20
"""A body with more faults than this is answered with the first ones."""

ANSWER_HEADERS = ((b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"))


class RequestGuard:
    """Refuses bodies over the size limit (413) and JSON or URLs holding what cannot be stored (422)."""

    def __init__(self, app: ASGIApp, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES):
        self.app, self.max_request_bytes = app, max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        send = with_answer_headers(send)
        if reasons := url_faults(scope):
            return await refuse(send, 422, reasons)
        declared = content_length(scope)
        if declared is not None and declared > self.max_request_bytes:
            return await refuse(send, 413, self.too_large(), close=True)
        body = await self.read_body(receive)
        if body is None:
            return  # the client went away before sending its body
        if body is TOO_LARGE:
            return await refuse(send, 413, self.too_large(), close=True)
        if body and (reasons := json_faults(body) if is_json(scope) else utf8_faults(body)):
            return await refuse(send, 422, reasons)
        await self.app(scope, replaying(body, receive), send)

    async def read_body(self, receive: Receive) -> bytes | object | None:
        """The whole body, TOO_LARGE as soon as it passes the limit, or None if the client went away."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_request_bytes:
                return TOO_LARGE
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def too_large(self) -> str:
        return f"the request body is larger than {self.max_request_bytes} bytes"


TOO_LARGE = object()


def with_answer_headers(send: Send) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            present = {name.lower() for name, _ in headers}
            headers += [(name, value) for name, value in ANSWER_HEADERS if name not in present]
            message = {**message, "headers": headers}
        await send(message)

    return send_with_headers


async def refuse(send: Send, status: int, detail: Any, close: bool = False) -> None:
    """Answer `detail` with `status`; `close` the connection when the rest of the body was left unread."""
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status,
                "headers": headers + [(b"connection", b"close")] if close else headers})
    await send({"type": "http.response.body", "body": body})


def replaying(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the app the body already read, then whatever the client sends next."""
    sent = False

    async def receive_again() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive_again


def content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def is_json(scope: Scope) -> bool:
    """Whether FastAPI would read the body as JSON: a JSON media type, or none at all."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            media_type = value.split(b";", 1)[0].strip().lower()
            return media_type == b"application/json" or (
                media_type.startswith(b"application/") and media_type.endswith(b"+json"))
    return True


def reason(loc: list[Any], msg: str, kind: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": kind}


def url_faults(scope: Scope) -> list[dict[str, Any]]:
    """NUL (%00) in the path or in a query parameter's name or value."""
    faults = []
    if "\x00" in scope["path"]:
        faults.append(reason(["path"], "the path must not contain NUL (%00)", "nul_character"))
    query = scope.get("query_string", b"").decode("latin-1")
    if "%00" in query or "\x00" in query:
        for name, value in parse_qsl(query, keep_blank_values=True):
            if "\x00" in name:
                faults.append(reason(["query"], "a query parameter's name must not contain NUL (%00)",
                                     "nul_character"))
            elif "\x00" in value:
                faults.append(reason(["query", name], "must not contain NUL (%00)", "nul_character"))
    return faults


class NotFinite:
    """Where the strict parse met NaN, Infinity, -Infinity or a number too large for a float."""


def finite_float(text: str) -> float | NotFinite:
    number = float(text)
    return number if math.isfinite(number) else NotFinite()


def utf8_faults(body: bytes) -> list[dict[str, Any]]:
    """A body of another media type must be UTF-8 too (every route takes text; FastAPI's 422 quotes it)."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return [reason(["body"], "the body is not valid UTF-8", "invalid_utf8")]
    return []


def json_faults(body: bytes) -> list[dict[str, Any]]:
    """Why `body` cannot be taken as JSON whose every string can be stored; empty if it can, or if it is not
    JSON at all (FastAPI answers that)."""
    if faults := utf8_faults(body):
        return faults
    text = body.decode("utf-8")
    try:
        document = json.loads(text, parse_constant=lambda _: NotFinite(), parse_float=finite_float)
    except RecursionError:
        return [reason(["body"], "the body is nested too deeply", "json_too_deep")]
    except ValueError:
        return []
    return value_faults(document)


def value_faults(document: Any) -> list[dict[str, Any]]:
    """Every non-finite number and unstorable string in `document`, by location (walked without recursion: a
    body may nest as deeply as the parser allows)."""
    faults: list[dict[str, Any]] = []
    waiting: list[tuple[list[Any], Any]] = [(["body"], document)]
    while waiting and len(faults) < MOST_REASONS:
        loc, value = waiting.pop()
        if isinstance(value, NotFinite):
            faults.append(reason(loc, "NaN and Infinity are not numbers JSON allows (nor is one too large for a "
                                      "float)", "json_not_finite"))
        elif isinstance(value, str):
            if fault := string_fault(value):
                faults.append(reason(loc, *fault))
        elif isinstance(value, dict):
            for name, member in reversed(value.items()):
                if fault := string_fault(name):
                    faults.append(reason(loc, f"a member name {fault[0]}", fault[1]))
                else:
                    waiting.append(([*loc, name], member))
        elif isinstance(value, list):
            waiting.extend(([*loc, index], item) for index, item in reversed(list(enumerate(value))))
    return faults


def string_fault(text: str) -> tuple[str, str] | None:
    """Why `text` cannot be stored (a NUL, a lone surrogate), if it cannot: the message and the type."""
    if "\x00" in text:
        return "must not contain NUL (\\u0000)", "nul_character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain a lone surrogate (\\ud800-\\udfff without its pair)", "lone_surrogate"
    return None
