"""A service checks a token's signature once, then takes it again until it expires, never after."""

from __future__ import annotations

from datetime import datetime

import jwt
import pytest

from shared import auth
from shared.auth import InvalidToken, TokenVerifier, make_signing_key, mint_token, public_key_of

KEY = make_signing_key()


def test_a_token_verified_once_is_taken_again_without_checking_its_signature(monkeypatch):
    verifier = TokenVerifier(public_key_pem=public_key_of(KEY))
    token = mint_token(KEY, role="analyst", subject="analyst-1")
    checks = []
    decode = jwt.decode
    monkeypatch.setattr(jwt, "decode", lambda *args, **kwargs: checks.append(1) or decode(*args, **kwargs))

    first, again = verifier.verify(token), verifier.verify(token)

    assert first == again and first.subject == "analyst-1"
    assert len(checks) == 1


def test_a_remembered_token_is_refused_once_it_has_expired(monkeypatch):
    verifier = TokenVerifier(public_key_pem=public_key_of(KEY), leeway_seconds=0)
    token = mint_token(KEY, role="analyst", subject="analyst-1", minutes=5)
    verifier.verify(token)
    later = auth.time.time() + 6 * 60

    class SixMinutesLater(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.fromtimestamp(later, tz)

    monkeypatch.setattr(auth.time, "time", lambda: later)  # the verifier's clock ...
    monkeypatch.setattr(jwt.api_jwt, "datetime", SixMinutesLater)  # ... and the JWT library's

    with pytest.raises(InvalidToken) as refused:
        verifier.verify(token)
    assert refused.value.kind == "token_expired"
