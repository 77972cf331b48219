"""Scheme snapshots: a scheme's state every few versions, so loading it never replays its whole history.

A scheme's history grows for ever (a UnitAllocated and a UnitReleased per stay). Every `every` versions its
state is written to `scheme_snapshots` in the same transaction as its events, so a snapshot never gets ahead
of the events it sums up; loading takes the latest snapshot and the events after it. One row per scheme.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from services.placement.domain import Scheme
from shared.eventstore import SqlWrite


class SchemeSnapshots:
    """The placement schema's `scheme_snapshots` table, read and written with the store's own connections."""

    def __init__(self, datastore: Any, schema: str, every: int):
        """`datastore` is the eventsourcing PostgresDatastore of the placement store."""
        self.datastore = datastore
        self.table = f"{schema}.scheme_snapshots"
        self.every = every

    def prepare(self) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} (scheme_id uuid PRIMARY KEY, version bigint NOT NULL,"
                " format int NOT NULL, state jsonb NOT NULL, taken_at timestamptz NOT NULL DEFAULT now())")

    def latest(self, scheme_ids: Iterable[UUID]) -> dict[UUID, Scheme]:
        """The schemes as of their latest snapshot (those with one), in one query."""
        ids = list(scheme_ids)
        if not ids:
            return {}
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT scheme_id, version, state FROM {self.table}"
                           " WHERE scheme_id = ANY(%s) AND format = %s", (ids, Scheme.SNAPSHOT_FORMAT))
            rows = cursor.fetchall()
        return {row["scheme_id"]: Scheme.from_snapshot(row["scheme_id"], row["version"], row["state"])
                for row in rows}

    def due(self, schemes: Iterable[Scheme]) -> list[SqlWrite]:
        """The snapshot writes to save with these schemes' new events: those `every` or more versions on
        from the snapshot they were loaded from. In scheme id order, so two saves never wait on each other's rows."""
        return [self._write(scheme) for scheme in sorted(schemes, key=lambda s: s.id)
                if scheme.version - scheme.snapshot_version >= self.every]

    def _write(self, scheme: Scheme) -> SqlWrite:
        return SqlWrite(
            f"INSERT INTO {self.table} (scheme_id, version, format, state) VALUES (%s, %s, %s, %s::jsonb)"
            " ON CONFLICT (scheme_id) DO UPDATE SET version = EXCLUDED.version, format = EXCLUDED.format,"
            f" state = EXCLUDED.state, taken_at = now() WHERE {self.table}.version < EXCLUDED.version"
            f" OR {self.table}.format <> EXCLUDED.format",
            (scheme.id, scheme.version, Scheme.SNAPSHOT_FORMAT, json.dumps(scheme.to_snapshot())))
