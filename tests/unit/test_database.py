"""Telling a database out of reach from a statement that failed."""

from unittest.mock import patch

import psycopg
import pytest
from eventsourcing.persistence import OperationalError
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresApplicationRecorder

from shared.database import FailFastRecorder, database_unreachable


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


def a_recorder_whose_database_restarted() -> FailFastRecorder:
    """A recorder (never connected) whose pool waits a second; reading the notification log meets a connection the
    restart broke."""
    recorder = FailFastRecorder.__new__(FailFastRecorder)
    recorder.datastore = type("Datastore", (), {"pool": type("Pool", (), {"timeout": 1.0})()})()
    return recorder


def broken_connection(*_args, **_kwargs):
    lost = OperationalError("connection lost")
    lost.__cause__ = psycopg.OperationalError("server closed the connection unexpectedly")
    raise lost


def test_a_background_reader_meeting_a_broken_connection_does_not_refuse_the_requests_after_it():
    """Found with four projections reading the referral store: one met a connection broken by a database restart,
    and every write in the next second was refused with 503 although the database was back."""
    recorder = a_recorder_whose_database_restarted()
    with patch.object(PostgresApplicationRecorder, "select_notifications", broken_connection), \
            pytest.raises(OperationalError, match="connection lost"):
        recorder.select_notifications(1, 10)

    assert recorder._unreachable_until == 0.0
    with patch.object(PostgresApplicationRecorder, "max_notification_id", lambda self: 7):
        assert recorder.max_notification_id() == 7


def test_a_request_finding_the_database_out_of_reach_refuses_the_requests_of_the_next_second_at_once():
    recorder = a_recorder_whose_database_restarted()
    with patch.object(PostgresAggregateRecorder, "select_events", broken_connection), \
            pytest.raises(OperationalError, match="connection lost"):
        recorder.select_events("an aggregate")

    with pytest.raises(OperationalError, match="out of reach a moment ago"):
        recorder.select_events("an aggregate")
