"""Tables as CSV: what a service's `format=csv` answers with (every column any row has, in first-seen order; a
mapping cell as `key=value;...`, a list cell as `a;b`)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from fastapi.responses import Response


def as_csv(rows: Iterable[dict[str, Any]], name: str) -> Response:
    rows = list(rows)
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _cell(value) for key, value in row.items()})
    return Response(out.getvalue(), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


def _cell(value: Any) -> Any:
    if isinstance(value, dict):
        return ";".join(f"{key}={item}" for key, item in value.items())
    if isinstance(value, list):
        return ";".join(str(item) for item in value)
    return value
