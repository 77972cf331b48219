"""The district inbox's tables, in the referral schema, and the SQL that reads and writes them.

- `district_cases`: the district's own case reference (`district_ref`) -> casetrack's case.
- `district_messages`: every message applied, by `message_id`: a repeat is recognised and applied once.
- `rejected_messages`: every refused message with its reasons, its body sealed (it may hold personal data)
  until a corrected resend resolves it, the young person it names is erased, or the retention period ends.
  Its `district_ref` and `message_id` are kept only if they are valid identifiers (an invalid value may be
  anything, a name typed in the wrong box: it is dropped, never stored, published or listed); a young person
  it names is kept only as `person_digest`, the vault's keyed match key of name and date of birth, so that
  erasing them reaches the message too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from shared.contracts.inbound import DistrictMessage, Reason
from shared.eventstore import SqlWrite


def inbox_ddl(schema: str) -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {schema}.district_cases ("
        " district text NOT NULL, district_ref text NOT NULL, case_id uuid NOT NULL UNIQUE,"
        " PRIMARY KEY (district, district_ref))",
        f"CREATE TABLE IF NOT EXISTS {schema}.district_messages ("
        " district text NOT NULL, message_id text NOT NULL, kind text NOT NULL, district_ref text NOT NULL,"
        " case_id uuid NOT NULL, accepted_at timestamptz NOT NULL DEFAULT now(),"
        " PRIMARY KEY (district, message_id))",
        f"CREATE TABLE IF NOT EXISTS {schema}.rejected_messages ("
        " rejection_id uuid PRIMARY KEY, stream_sequence bigint NOT NULL UNIQUE, district text NOT NULL,"
        " kind text, district_ref text, message_id text, reasons jsonb NOT NULL,"
        " sealed_body bytea, wrapped_body_key bytea, received_at timestamptz NOT NULL DEFAULT now(),"
        " resolved_by_message_id text, resolved_at timestamptz)",
        f"CREATE INDEX IF NOT EXISTS rejected_messages_by_ref ON {schema}.rejected_messages"
        " (district, district_ref) WHERE resolved_at IS NULL",
        f"ALTER TABLE {schema}.rejected_messages ADD COLUMN IF NOT EXISTS person_digest bytea",
    ]


@dataclass(frozen=True)
class Prior:
    """What the inbox already holds about a message: the message applied with its id, and the case its
    district reference names."""

    applied: tuple[UUID, str, str] | None
    """(case_id, kind, district_ref) of the message applied with this message_id, if one was."""
    case_id: UUID | None


class InboxRecords:
    """The inbox's rows, on the referral store's connection pool (`datastore`)."""

    def __init__(self, datastore: Any, schema: str):
        self.datastore = datastore
        self.schema = schema

    def create_tables(self) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            for statement in inbox_ddl(self.schema):
                cursor.execute(statement)

    def prior(self, district: str, message_id: str, district_ref: str) -> Prior:
        """One round trip: was this message applied, and which case does its reference name?"""
        with self.datastore.transaction() as cursor:
            cursor.execute(
                f"SELECT m.case_id AS applied_case, m.kind, m.district_ref,"
                f" (SELECT case_id FROM {self.schema}.district_cases WHERE district = %s AND district_ref = %s)"
                f" AS case_id FROM (SELECT 1) AS one LEFT JOIN {self.schema}.district_messages m"
                " ON m.district = %s AND m.message_id = %s",
                (district, district_ref, district, message_id))
            row = cursor.fetchone()
        applied = (row["applied_case"], row["kind"], row["district_ref"]) if row["applied_case"] else None
        return Prior(applied, row["case_id"])

    def opening(self, district: str, district_ref: str, case_id: UUID) -> SqlWrite:
        """The write that ties the district's reference to the case its referral opens."""
        return SqlWrite(f"INSERT INTO {self.schema}.district_cases (district, district_ref, case_id)"
                        " VALUES (%s, %s, %s)", (district, district_ref, case_id))

    def accepting(self, district: str, kind: str, message: DistrictMessage, case_id: UUID) -> list[SqlWrite]:
        """The writes saved with the change: the message is applied, and earlier refusals it corrects resolved."""
        return [
            SqlWrite(f"INSERT INTO {self.schema}.district_messages (district, message_id, kind, district_ref,"
                     " case_id) VALUES (%s, %s, %s, %s, %s)",
                     (district, message.message_id, kind, message.district_ref, case_id)),
            SqlWrite(f"UPDATE {self.schema}.rejected_messages SET resolved_at = now(), resolved_by_message_id = %s,"
                     " sealed_body = NULL, wrapped_body_key = NULL, person_digest = NULL"
                     " WHERE district = %s AND resolved_at IS NULL AND (message_id = %s"
                     " OR (district_ref = %s AND kind = %s))",
                     (message.message_id, district, message.message_id, message.district_ref, kind)),
        ]

    def keep_rejection(self, sequence: int, district: str, kind: str | None, district_ref: str | None,
                       message_id: str | None, reasons: list[Reason], sealed: bytes,
                       wrapped_key: bytes, person_digest: bytes | None = None) -> dict[str, Any]:
        """Keep a refused message once per stream position; returns its rejection_id, received_at, reasons."""
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"INSERT INTO {self.schema}.rejected_messages (rejection_id, stream_sequence, district, kind,"
                " district_ref, message_id, reasons, sealed_body, wrapped_body_key, person_digest)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (stream_sequence) DO NOTHING",
                (uuid4(), sequence, district, kind, district_ref, message_id,
                 json.dumps([r.model_dump() for r in reasons]), sealed, wrapped_key, person_digest))
            cursor.execute(f"SELECT rejection_id, received_at, reasons FROM {self.schema}.rejected_messages"
                           " WHERE stream_sequence = %s", (sequence,))
            return dict(cursor.fetchone())

    def rejected_messages(self, district: str, unresolved_only: bool) -> list[dict[str, Any]]:
        """A district's refused messages with their reasons (never their bodies), oldest first."""
        with self.datastore.transaction() as cursor:
            cursor.execute(
                f"SELECT rejection_id, kind, district_ref, message_id, reasons, stream_sequence, received_at,"
                f" resolved_at, resolved_by_message_id FROM {self.schema}.rejected_messages WHERE district = %s"
                + (" AND resolved_at IS NULL" if unresolved_only else "") + " ORDER BY stream_sequence",
                (district,))
            return [{key: (value.isoformat() if isinstance(value, datetime) else
                           str(value) if isinstance(value, UUID) else value) for key, value in row.items()}
                    for row in cursor.fetchall()]

    def destroy_sealed_copies_older_than(self, days: int) -> int:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"UPDATE {self.schema}.rejected_messages SET sealed_body = NULL, wrapped_body_key = NULL,"
                " person_digest = NULL WHERE (sealed_body IS NOT NULL OR person_digest IS NOT NULL)"
                " AND received_at < now() - make_interval(days => %s)", (days,))
            return cursor.rowcount
