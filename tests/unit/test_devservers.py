"""The development servers (embedded NATS and PostgreSQL, `casetrack up`'s processes) stay apart from runtime code."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEVSERVERS = ("shared.devservers",)
ALLOWED = {Path("shared/cli.py"), Path("shared/bench.py")}  # `casetrack up`, and `casetrack bench` (its own servers)


def imported_modules(source: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_runtime_module_imports_the_development_servers():
    runtime = [path for folder in ("services", "shared") for path in (REPO_ROOT / folder).rglob("*.py")
               if not path.relative_to(REPO_ROOT).is_relative_to("shared/devservers")
               and path.relative_to(REPO_ROOT) not in ALLOWED]

    importers = {str(path.relative_to(REPO_ROOT)): sorted(name for name in imported_modules(path)
                                                          if name.startswith(DEVSERVERS)) for path in runtime}

    assert runtime and {path: names for path, names in importers.items() if names} == {}


def test_a_service_started_by_the_cli_never_loads_the_development_servers():
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, shared.cli; print(sorted(m for m in sys.modules if m.startswith("
                               f"{DEVSERVERS!r})))"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True)

    assert loaded.stdout.strip() == "[]"
