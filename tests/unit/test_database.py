"""Telling a database out of reach from a statement that failed."""

import psycopg
from eventsourcing.persistence import OperationalError

from shared.database import database_unreachable


def test_an_aborted_pipeline_is_a_statement_that_failed_not_an_outage():
    """A used idempotency key fails the key's INSERT; the pipeline's later statements then fail as aborted.
    Taken for an outage, it shut the store for a second and answered 503 to every concurrent write."""
    aborted = OperationalError("pipeline aborted")
    aborted.__cause__ = psycopg.errors.PipelineAborted("pipeline aborted")
    assert not database_unreachable(aborted)


def test_a_lost_connection_is_an_outage():
    lost = OperationalError("connection lost")
    lost.__cause__ = psycopg.OperationalError("server closed the connection unexpectedly")
    assert database_unreachable(lost)
