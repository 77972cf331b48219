"""The person vault: the only place casetrack keeps a young person's name, date of birth and contact details.

Each young person (`person_ref`) has a data key of their own. Their details are sealed with it
(AES-256-GCM, bound to the case they were given for) and the key is stored wrapped by the vault key
from settings. Erasing a person deletes their data key: the sealed details stay where they were and
can never be opened again, and the case history keeps its shape.

Finding the same young person at another front door uses blind match keys: keyed hashes (HMAC) of
normalised name and date-of-birth combinations, so the vault can look for a match without holding
searchable personal data in the clear.

Writes are returned as `SqlWrite`s, which the referral store runs in the same transaction as the
case events they belong with: a referral and its sealed details are saved together or not at all.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

import psycopg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from services.referral.domain import PersonalDataErased
from shared.contracts.inbound import YoungPerson
from shared.contracts.vocabulary import MatchedDetail
from shared.eventstore import SqlWrite

NONCE_BYTES = 12
WAL_SWITCHED = "switched past the destroyed key"
WAL_NOT_SWITCHED = ("not switched: the database user may not (it needs pg_checkpoint and EXECUTE on pg_switch_wal); "
                    "the destroyed key stays in the write-ahead log until PostgreSQL recycles it")
MOST_CANDIDATES = 5


MATCH_KINDS: dict[str, tuple[MatchedDetail, ...]] = {
    "name_and_date_of_birth": (MatchedDetail.given_name, MatchedDetail.family_name, MatchedDetail.date_of_birth),
    "family_name_and_date_of_birth": (MatchedDetail.family_name, MatchedDetail.date_of_birth),
    "given_name_and_date_of_birth": (MatchedDetail.given_name, MatchedDetail.date_of_birth),
    "name": (MatchedDetail.given_name, MatchedDetail.family_name),
}
"""Each kind of match key and the details it is made of. Only the first is a certain match."""
CERTAIN_MATCH = "name_and_date_of_birth"


@dataclass(frozen=True)
class Candidate:
    """A person already known whose details match a new referral's, and on which details."""

    person_ref: UUID
    matched_on: tuple[MatchedDetail, ...]
    certain: bool
    """Name and date of birth together match one of the person's cases (not pieces of several)."""


def normalised(text: str) -> str:
    """Case, accents, spaces and punctuation removed: 'Zoë O'Neil' and 'zoe oneil' match."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if ch.isalnum() and not unicodedata.combining(ch))


def vault_ddl(schema: str) -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {schema}.person_keys ("
        " person_ref uuid PRIMARY KEY, wrapped_key bytea NOT NULL, created_at timestamptz NOT NULL DEFAULT now())",
        f"CREATE TABLE IF NOT EXISTS {schema}.personal_details ("
        " case_id uuid PRIMARY KEY, person_ref uuid NOT NULL, sealed bytea NOT NULL,"
        " recorded_at timestamptz NOT NULL DEFAULT now())",
        f"CREATE INDEX IF NOT EXISTS personal_details_by_person ON {schema}.personal_details (person_ref)",
        f"CREATE TABLE IF NOT EXISTS {schema}.match_keys ("
        " case_id uuid NOT NULL, kind text NOT NULL, digest bytea NOT NULL, person_ref uuid NOT NULL,"
        " PRIMARY KEY (case_id, kind))",
        f"CREATE INDEX IF NOT EXISTS match_keys_by_digest ON {schema}.match_keys (kind, digest)",
        # A match key lives only as long as its person's data key: a referral racing an erasure cannot
        # leave match keys (or details sealed under the destroyed key) behind; it fails and is retried.
        f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'match_keys_person_key'"
        f" AND conrelid = '{schema}.match_keys'::regclass) THEN ALTER TABLE {schema}.match_keys"
        f" ADD CONSTRAINT match_keys_person_key FOREIGN KEY (person_ref) REFERENCES {schema}.person_keys"
        " ON DELETE CASCADE; END IF; END $$",
        f"CREATE TABLE IF NOT EXISTS {schema}.possible_matches ("
        " case_id uuid NOT NULL, candidate_person_ref uuid NOT NULL, matched_on text[] NOT NULL,"
        " flagged_at timestamptz NOT NULL DEFAULT now(), resolved_at timestamptz, resolution text,"
        " PRIMARY KEY (case_id, candidate_person_ref))",
        f"CREATE TABLE IF NOT EXISTS {schema}.personal_data_erasures ("
        " id bigserial PRIMARY KEY, person_ref uuid NOT NULL, case_ids uuid[] NOT NULL, actor text NOT NULL,"
        " erased_at timestamptz NOT NULL DEFAULT now())",
        f"CREATE TABLE IF NOT EXISTS {schema}.personal_data_reads ("
        " id bigserial PRIMARY KEY, person_ref uuid NOT NULL, actor text NOT NULL,"
        " read_at timestamptz NOT NULL DEFAULT now())",
    ]


class PersonVault:
    """Seals, matches, reads and erases young people's personal details in the referral schema."""

    def __init__(self, datastore: Any, schema: str, vault_key: str):
        """`datastore` is the eventsourcing PostgresDatastore of the referral store (its connection pool)."""
        self.datastore = datastore
        self.schema = schema
        secret = vault_key.encode()
        self._wrapping = AESGCM(_derive(secret, b"casetrack vault: wrapping data keys"))
        self._match_secret = _derive(secret, b"casetrack vault: match keys")

    def prepare(self) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            for statement in vault_ddl(self.schema):
                cursor.execute(statement)

    # -- sealing details -------------------------------------------------------------------------

    def data_key_of(self, person_ref: UUID) -> bytes | None:
        """The person's data key, or None if they have none (new, or erased)."""
        with self.datastore.transaction() as cursor:
            cursor.execute(f"SELECT wrapped_key FROM {self.schema}.person_keys WHERE person_ref = %s",
                           (person_ref,))
            row = cursor.fetchone()
        if row is None:
            return None
        wrapped = bytes(row["wrapped_key"])
        return self._wrapping.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], person_ref.bytes)

    def keep_details(self, case_id: UUID, person_ref: UUID, person: YoungPerson,
                     new_person: bool = False) -> list[SqlWrite]:
        """The writes that keep `person`'s details for `case_id`, sealed with `person_ref`'s data key
        (a `new_person` has none yet: one is made without looking)."""
        writes: list[SqlWrite] = []
        key = None if new_person else self.data_key_of(person_ref)
        if key is None:
            key = AESGCM.generate_key(bit_length=256)
            nonce = os.urandom(NONCE_BYTES)
            wrapped = nonce + self._wrapping.encrypt(nonce, key, person_ref.bytes)
            writes.append(SqlWrite(
                f"INSERT INTO {self.schema}.person_keys (person_ref, wrapped_key) VALUES (%s, %s)",
                (person_ref, wrapped)))
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + AESGCM(key).encrypt(nonce, person.model_dump_json().encode(), case_id.bytes)
        writes.append(SqlWrite(
            f"INSERT INTO {self.schema}.personal_details (case_id, person_ref, sealed) VALUES (%s, %s, %s)"
            " ON CONFLICT (case_id) DO UPDATE SET person_ref = EXCLUDED.person_ref, sealed = EXCLUDED.sealed,"
            " recorded_at = now()",
            (case_id, person_ref, sealed)))
        writes.append(SqlWrite(f"DELETE FROM {self.schema}.match_keys WHERE case_id = %s", (case_id,)))
        for kind, digest in self.match_keys(person).items():
            writes.append(SqlWrite(
                f"INSERT INTO {self.schema}.match_keys (case_id, kind, digest, person_ref) VALUES (%s, %s, %s, %s)",
                (case_id, kind, digest, person_ref)))
        return writes

    def details_of_case(self, case_id: UUID) -> YoungPerson | None:
        """The details given for a case; None if none were; PersonalDataErased if they were erased."""
        with self.datastore.transaction() as cursor:
            cursor.execute(
                f"SELECT d.person_ref, d.sealed, k.wrapped_key FROM {self.schema}.personal_details d"
                f" LEFT JOIN {self.schema}.person_keys k USING (person_ref) WHERE d.case_id = %s", (case_id,))
            row = cursor.fetchone()
        if row is None:
            return None
        if row["wrapped_key"] is None:
            raise PersonalDataErased(f"the personal data given for case {case_id} was erased")
        return self._open(case_id, row["person_ref"], bytes(row["sealed"]))

    def date_of_birth_of_case(self, case_id: UUID) -> date | None:
        """The date of birth given for a case, for deriving an age (it never leaves the referral service); None if
        no details were given or they were erased (no age can be derived then)."""
        try:
            person = self.details_of_case(case_id)
        except PersonalDataErased:
            return None
        return person.date_of_birth if person else None

    def move_case(self, case_id: UUID, from_person_ref: UUID, to_person_ref: UUID) -> list[SqlWrite]:
        """The writes that re-seal a case's details under another person's key (on link or unlink).

        Erased details stay where they are, unreadable. The key the case leaves is destroyed if no other
        case uses it, so no copy of the details (e.g. a dead row version on disk) can be opened with it."""
        try:
            person = self.details_of_case(case_id)
        except PersonalDataErased:
            return []
        if person is None:
            return []
        return [*self.keep_details(case_id, to_person_ref, person), SqlWrite(
            f"DELETE FROM {self.schema}.person_keys k WHERE k.person_ref = %s AND NOT EXISTS (SELECT 1"
            f" FROM {self.schema}.personal_details d WHERE d.person_ref = k.person_ref AND d.case_id <> %s)",
            (from_person_ref, case_id))]

    # -- finding the same young person -------------------------------------------------------------

    def candidates_for(self, person: YoungPerson) -> list[Candidate]:
        """People already known whose details match, most certain first (erased people never match)."""
        keys = self.match_keys(person)
        with self.datastore.transaction() as cursor:
            cursor.execute(
                f"SELECT person_ref, array_agg(DISTINCT kind) AS kinds FROM {self.schema}.match_keys"
                " WHERE (kind, digest) IN (SELECT * FROM unnest(%s::text[], %s::bytea[])) GROUP BY person_ref",
                (list(keys), list(keys.values())))
            rows = cursor.fetchall()
        candidates = [
            Candidate(row["person_ref"], tuple(sorted({d for kind in row["kinds"] for d in MATCH_KINDS[kind]})),
                      certain=CERTAIN_MATCH in row["kinds"])
            for row in rows
        ]
        candidates.sort(key=lambda c: (not c.certain, -len(c.matched_on), str(c.person_ref)))
        return candidates[:MOST_CANDIDATES]

    def note_possible_match(self, case_id: UUID, candidate: Candidate) -> SqlWrite:
        return SqlWrite(
            f"INSERT INTO {self.schema}.possible_matches (case_id, candidate_person_ref, matched_on)"
            " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
            (case_id, candidate.person_ref, [str(d) for d in candidate.matched_on]))

    def resolve_possible_match(self, case_id: UUID, candidate_person_ref: UUID, resolution: str) -> SqlWrite:
        return SqlWrite(
            f"UPDATE {self.schema}.possible_matches SET resolved_at = now(), resolution = %s"
            " WHERE case_id = %s AND candidate_person_ref = %s AND resolved_at IS NULL",
            (resolution, case_id, candidate_person_ref))

    def open_possible_matches(self) -> list[dict[str, Any]]:
        with self.datastore.transaction() as cursor:
            cursor.execute(
                f"SELECT case_id, candidate_person_ref, matched_on, flagged_at FROM {self.schema}.possible_matches"
                " WHERE resolved_at IS NULL ORDER BY flagged_at, case_id")
            return [dict(row) for row in cursor.fetchall()]

    def seal_message(self, body: bytes) -> tuple[bytes, bytes]:
        """Seal a refused district message (it may hold personal data) under a key of its own;
        returns (sealed body, wrapped key). Deleting the wrapped key shreds the message."""
        key = AESGCM.generate_key(bit_length=256)
        nonce, key_nonce = os.urandom(NONCE_BYTES), os.urandom(NONCE_BYTES)
        sealed = nonce + AESGCM(key).encrypt(nonce, body, b"district message")
        return sealed, key_nonce + self._wrapping.encrypt(key_nonce, key, b"district message")

    def open_message(self, sealed: bytes, wrapped_key: bytes) -> bytes:
        key = self._wrapping.decrypt(wrapped_key[:NONCE_BYTES], wrapped_key[NONCE_BYTES:], b"district message")
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], b"district message")

    # -- reading and erasing -----------------------------------------------------------------------

    def certain_match_keys_of(self, person_ref: UUID) -> list[bytes]:
        """The person's name-and-date-of-birth match keys (one per distinct set of details they were given with):
        what a refused district message naming them is kept under."""
        with self.datastore.transaction() as cursor:
            cursor.execute(f"SELECT DISTINCT digest FROM {self.schema}.match_keys WHERE person_ref = %s"
                           " AND kind = %s", (person_ref, CERTAIN_MATCH))
            return [bytes(row["digest"]) for row in cursor.fetchall()]

    def cases_of(self, person_ref: UUID) -> list[UUID]:
        with self.datastore.transaction() as cursor:
            cursor.execute(f"SELECT case_id FROM {self.schema}.personal_details WHERE person_ref = %s"
                           " ORDER BY recorded_at, case_id", (person_ref,))
            return [row["case_id"] for row in cursor.fetchall()]

    def read_person(self, person_ref: UUID, actor: str) -> YoungPerson | None:
        """The latest details held for a person, for a case worker; the read itself is recorded.

        None if the vault holds nothing for them; PersonalDataErased if it was erased."""
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"SELECT d.case_id, d.sealed, k.wrapped_key FROM {self.schema}.personal_details d"
                f" LEFT JOIN {self.schema}.person_keys k USING (person_ref)"
                " WHERE d.person_ref = %s ORDER BY d.recorded_at DESC LIMIT 1", (person_ref,))
            row = cursor.fetchone()
            if row is None:
                return None
            cursor.execute(f"INSERT INTO {self.schema}.personal_data_reads (person_ref, actor) VALUES (%s, %s)",
                           (person_ref, actor))
        if row["wrapped_key"] is None:
            raise PersonalDataErased(f"the personal data of {person_ref} was erased")
        return self._open(row["case_id"], person_ref, bytes(row["sealed"]))

    def erase(self, person_ref: UUID, actor: str) -> list[UUID]:
        """Destroy the person's data key and match keys; returns the cases whose details became unreadable.

        The two tables are then rewritten (VACUUM FULL), so the key is gone from their files too: plain
        VACUUM would leave the deleted bytes in the pages' free space. PostgreSQL's write-ahead log still
        holds the wrapped key until `switch_write_ahead_log` moves it on; backups keep it, wrapped by the
        vault key."""
        with self.datastore.transaction(commit=True) as cursor:
            # The key goes first: its row lock makes a referral racing to use it wait, then fail.
            cursor.execute(f"DELETE FROM {self.schema}.person_keys WHERE person_ref = %s", (person_ref,))
            cursor.execute(f"DELETE FROM {self.schema}.match_keys WHERE person_ref = %s", (person_ref,))
            cursor.execute(f"SELECT case_id FROM {self.schema}.personal_details WHERE person_ref = %s"
                           " ORDER BY recorded_at, case_id", (person_ref,))
            case_ids = [row["case_id"] for row in cursor.fetchall()]
            cursor.execute(
                f"INSERT INTO {self.schema}.personal_data_erasures (person_ref, case_ids, actor) VALUES (%s, %s, %s)",
                (person_ref, case_ids, actor))
        self.rewrite_tables("person_keys", "match_keys", "personal_details")
        return case_ids

    def switch_write_ahead_log(self) -> str:
        """Force PostgreSQL's write-ahead log on past what an erasure destroyed (call it once the erasure is
        committed): a checkpoint, a switch to a new segment, and a checkpoint again, so the segment that
        recorded the wrapped key is finished and no longer needed for recovery (PostgreSQL then recycles it;
        archives and backups keep their copies, which the vault key still wraps). Says what was done; a
        database user without the right (superuser, or pg_checkpoint and EXECUTE on pg_switch_wal) is told,
        and the erasure stands."""
        try:
            with self.datastore.get_connection() as conn:
                autocommit = conn.autocommit
                conn.autocommit = True
                try:
                    conn.execute("CHECKPOINT")
                    conn.execute("SELECT pg_switch_wal()")
                    conn.execute("CHECKPOINT")
                finally:
                    conn.autocommit = autocommit
        except psycopg.errors.InsufficientPrivilege:
            return WAL_NOT_SWITCHED
        return WAL_SWITCHED

    def rewrite_tables(self, *tables: str) -> None:
        """VACUUM FULL: rewrite the tables so deleted or overwritten rows are gone from their files."""
        with self.datastore.get_connection() as conn:
            autocommit = conn.autocommit
            conn.autocommit = True
            try:
                for table in tables:
                    conn.execute(f"VACUUM FULL {self.schema}.{table}")
            finally:
                conn.autocommit = autocommit

    def _open(self, case_id: UUID, person_ref: UUID, sealed: bytes) -> YoungPerson:
        key = self.data_key_of(person_ref)
        if key is None:
            raise PersonalDataErased(f"the personal data of {person_ref} was erased")
        try:
            plain = AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], case_id.bytes)
        except InvalidTag:  # sealed under a key since destroyed (the person was erased, then presented again)
            raise PersonalDataErased(f"the personal data given for case {case_id} was erased") from None
        return YoungPerson.model_validate(json.loads(plain))

    def match_keys(self, person: YoungPerson) -> dict[str, bytes]:
        """The blind match keys of these details (what `candidates_for` looks up), by kind."""
        parts = {
            MatchedDetail.given_name: normalised(person.given_name),
            MatchedDetail.family_name: normalised(person.family_name),
            MatchedDetail.date_of_birth: person.date_of_birth.isoformat(),
        }
        return {
            kind: hmac.new(self._match_secret, f"{kind}|{'|'.join(parts[d] for d in details)}".encode(),
                           hashlib.sha256).digest()
            for kind, details in MATCH_KINDS.items()
        }


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret)
