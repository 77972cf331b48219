"""Safeguarding flags: which restricted flag a case carries (exploitation, missing episodes, MARAC, MAPPA, risk to
others) is kept here, in the referral service's own table, and never in an event. The case's events carry only
the flag's id (RestrictedFlagRaised / RestrictedFlagEnded); the rows are written as `SqlWrite`s in the same
transaction as those events, so a flag and its kind are saved together or not at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from shared.contracts.vocabulary import SafeguardingFlag
from shared.eventstore import SqlWrite


def safeguarding_ddl(schema: str) -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {schema}.safeguarding_flags ("
        " flag_id uuid PRIMARY KEY, case_id uuid NOT NULL, flag text NOT NULL,"
        " raised_at timestamptz NOT NULL, ended_at timestamptz)",
        f"CREATE UNIQUE INDEX IF NOT EXISTS safeguarding_flags_raised ON {schema}.safeguarding_flags"
        " (case_id, flag) WHERE ended_at IS NULL",
    ]


class SafeguardingFlags:
    """Reads and writes the kinds of the restricted flags raised on cases."""

    def __init__(self, datastore: Any, schema: str):
        self.datastore = datastore
        self.schema = schema

    def prepare(self) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            for statement in safeguarding_ddl(self.schema):
                cursor.execute(statement)

    def raised_now(self, case_id: UUID) -> dict[SafeguardingFlag, UUID]:
        """The safeguarding flags raised on the case now, and their ids."""
        with self.datastore.transaction() as cursor:
            cursor.execute(f"SELECT flag, flag_id FROM {self.schema}.safeguarding_flags"
                           " WHERE case_id = %s AND ended_at IS NULL", (case_id,))
            return {SafeguardingFlag(row["flag"]): row["flag_id"] for row in cursor.fetchall()}

    def of_case(self, case_id: UUID) -> list[dict[str, Any]]:
        """Every safeguarding flag of the case, raised or ended, oldest first."""
        with self.datastore.transaction() as cursor:
            cursor.execute(f"SELECT flag_id, flag, raised_at, ended_at FROM {self.schema}.safeguarding_flags"
                           " WHERE case_id = %s ORDER BY raised_at, flag_id", (case_id,))
            return [dict(row) for row in cursor.fetchall()]

    def raising(self, flag_id: UUID, case_id: UUID, flag: SafeguardingFlag, raised_at: datetime) -> SqlWrite:
        return SqlWrite(f"INSERT INTO {self.schema}.safeguarding_flags (flag_id, case_id, flag, raised_at)"
                        " VALUES (%s, %s, %s, %s)", (flag_id, case_id, SafeguardingFlag(flag).value, raised_at))

    def ending(self, flag_id: UUID, ended_at: datetime) -> SqlWrite:
        return SqlWrite(f"UPDATE {self.schema}.safeguarding_flags SET ended_at = %s WHERE flag_id = %s",
                        (ended_at, flag_id))
