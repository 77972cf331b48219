"""What the finance routes take, as `Annotated` aliases (the shared ones are in `shared.web`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.finance.application import Finance
from shared.auth import Role, requires
from shared.web import Context, Runtime, Today, runtime_of

__all__ = ["Context", "FinanceReader", "FinanceWriter", "Runtime", "Store", "Today"]

# Who may call each route (services/finance/README.md has the table).
FinanceWriter = requires(Role.commissioner, Role.finance_officer, Role.admin)
"""Agrees contracts and changes their prices and funding, sets budgets, agrees and spends individual service
funds."""
FinanceReader = requires(Role.commissioner, Role.finance_officer, Role.analyst, Role.auditor, Role.admin)
"""Reads contracts, budgets and funds: no personal data (a fund names its case and person_ref only)."""


def finance_of(request: Request) -> Finance:
    return runtime_of(request).store  # type: ignore[return-value]


Store = Annotated[Finance, Depends(finance_of)]
