"""What the end-to-end tests share: settings for a system of their own, and referral bodies made over HTTP."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

from shared import devservers
from shared.auth import embedded_signing_key, mint_token
from shared.devservers import System, free_port
from shared.settings import SERVICES, Settings


def free_base_port() -> int:
    """A base port whose five service ports are all free."""
    return devservers.free_base_port(len(SERVICES))


def system_settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, base_port=free_base_port(), nats_port=free_port(),
                    postgres_port=free_port(), environment="test")


def auth_headers(system: System, role: str = "admin", district: str | None = None, provider: str | None = None,
                 subject: str | None = None, minutes: int = 60) -> dict[str, str]:
    """`Authorization: Bearer <token>` for a caller in `role`, minted with the system's embedded signing key
    (a district officer needs `district`, a provider `provider`)."""
    token = mint_token(embedded_signing_key(system.settings.data_dir), role=role, district=district,
                       provider=provider, subject=subject, minutes=minutes, issuer=system.settings.token_issuer,
                       audience=system.settings.token_audience)
    return {"Authorization": f"Bearer {token}"}


def a_referral(*, date_of_birth: str = "2009-03-14", given_name: str | None = None,
               family_name: str | None = None, **overrides) -> dict:
    """A referral body; the young person gets a name of their own unless one is given, so that
    referrals in different tests are never taken for the same young person."""
    referral = {
        "district": "preston",
        "gateway": "district_housing_options",
        "cohort": "homeless_16_17",
        "young_person": {
            "given_name": given_name or f"Alex{uuid.uuid4().hex[:8]}",
            "family_name": family_name or f"Tester{uuid.uuid4().hex[:8]}",
            "date_of_birth": date_of_birth,
            "phone": "07700 900123",
        },
        "presenting_reason": "parental_eviction",
        "flags": ["neet"],
        "occurred_at": "2026-11-20T10:00:00Z",
    }
    return {**referral, **overrides}


def post_referral(referral: httpx.Client, **overrides) -> dict:
    response = referral.post("/referrals", json=a_referral(**overrides))
    assert response.status_code == 201, response.text
    return response.json()
