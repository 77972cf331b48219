"""What the referral routes take besides their input: the store (see `shared.web` for the rest)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.referral.application import Referrals


def referrals_of(request: Request) -> Referrals:
    return request.app.state.runtime.store


ReferralsStore = Annotated[Referrals, Depends(referrals_of)]
