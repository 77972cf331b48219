"""Bearer tokens for unit tests of the routes: signed with a key made for the test run, trusted by the app."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from shared.auth import TokenVerifier, make_signing_key, mint_token, public_key_of

TEST_SIGNING_KEY = make_signing_key()


def trusting_test_tokens(app: FastAPI) -> FastAPI:
    """Make `app` verify tokens signed with the test key."""
    app.state.token_verifier = TokenVerifier(public_key_pem=public_key_of(TEST_SIGNING_KEY))
    return app


def bearer(role: str = "admin", subject: str = "case-worker-1", **claims: Any) -> dict[str, str]:
    """The Authorization header of a test token for `role` (district=..., provider=..., minutes=...)."""
    return {"Authorization": f"Bearer {mint_token(TEST_SIGNING_KEY, role=role, subject=subject, **claims)}"}
