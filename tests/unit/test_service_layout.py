"""Every service has the same layout, so that a newcomer who knows one knows all; domain code is pure."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from shared.settings import SERVICES

SERVICES_DIR = Path(__file__).parents[2] / "services"
PURE = ("shared.aggregate", "shared.contracts", "shared.errors")


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_service_has_the_common_layout(service: str):
    folder = SERVICES_DIR / service
    expected = {"bootstrap.py", "README.md", "api", "projections"}
    if service != "journeys":  # the read side owns no events, so it has no domain or commands
        expected |= {"domain", "handlers.py"}
    assert expected <= {path.name for path in folder.iterdir()}
    assert not {"projections.py", "read_model.py", "caseload.py", "cases.py", "api.py", "domain.py"} & {
        path.name for path in folder.iterdir()}


@pytest.mark.parametrize("module", sorted(SERVICES_DIR.glob("*/domain/*.py")), ids=lambda p: str(p.parent.parent.name
                                                                                                  + "/" + p.name))
def test_domain_modules_import_only_the_pure_base(module: Path):
    imported = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    service = f"services.{module.parent.parent.name}.domain"
    impure = {name for name in imported
              if name.split(".")[0] in {"shared", "services", "eventsourcing", "fastapi", "nats", "faststream",
                                        "asyncpg", "psycopg"}
              and not name.startswith(PURE) and not name.startswith(service)}
    assert impure == set()
