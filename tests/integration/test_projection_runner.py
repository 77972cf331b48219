"""The projection runner applies each event once, in order, in batches; dead-letters only what cannot be
applied; waits out an unreachable database; and a rebuild swaps fresh tables in only when complete."""

from __future__ import annotations

import asyncio
import contextlib
import sys

import asyncpg

from shared.devservers import Postgres, free_port
from shared.projections import (
    Projection,
    ProjectionRunner,
    RebuildProgress,
    StreamSource,
    prepare_projection,
    rebuild,
)
from shared.subjects import POSITION_HEADER
from tests.integration.projection_fixtures import (
    CountedReferrals,
    a_referral,
    counted,
    dead_letters,
    publish,
    publish_raw,
)


async def a_runner(pool, schema, js, projection: Projection | None = None, batch_size: int = 100,
                   reader: str = "test-counted") -> ProjectionRunner:
    projection = projection or CountedReferrals()
    async with pool.acquire() as conn:
        await prepare_projection(conn, schema, projection)
    runner = ProjectionRunner(projection, "referral", StreamSource(js, "referral", reader, fetch_timeout=0.2),
                              pool, schema, batch_size=batch_size)
    await runner.start()
    return runner


@contextlib.asynccontextmanager
async def running(runner: ProjectionRunner):
    task = asyncio.create_task(runner.run())
    try:
        yield runner
    finally:
        runner.stop()
        await asyncio.wait_for(task, 30)
        await runner.source.close()


async def test_every_event_on_the_stream_is_applied_once_in_order_in_batches(pool, schema, nats_client):
    js = nats_client.jetstream()
    cases = await publish(js, [a_referral() for _ in range(250)])
    runner = await a_runner(pool, schema, js, batch_size=100)

    async with running(runner):
        assert await runner.wait_for(250, timeout=15)

    assert await counted(pool, schema) == cases
    assert await runner.lag() == 0 and await dead_letters(pool, schema) == []


async def test_a_restarted_runner_carries_on_from_its_recorded_position(pool, schema, nats_client):
    js = nats_client.jetstream()
    cases = await publish(js, [a_referral() for _ in range(3)])
    async with running(await a_runner(pool, schema, js)) as first:
        assert await first.wait_for(3, timeout=10)
    cases += await publish(js, [a_referral()], first_position=4)

    async with running(await a_runner(pool, schema, js)) as restarted:
        assert restarted.position == 3
        assert await restarted.wait_for(4, timeout=10)

    assert await counted(pool, schema) == cases


async def test_a_poison_event_in_the_middle_of_a_batch_is_dead_lettered_alone(pool, schema, nats_client):
    js = nats_client.jetstream()
    events = [a_referral() for _ in range(9)]
    poison = events[4].case_id
    cases = await publish(js, events)
    runner = await a_runner(pool, schema, js, CountedReferrals(refuse=[poison]), batch_size=9)

    async with running(runner):
        assert await runner.wait_for(9, timeout=10)

    assert await counted(pool, schema) == [case for case in cases if case != poison]
    [letter] = await dead_letters(pool, schema)
    assert letter["sequence"] == 5 and letter["reason"] == "cannot be applied: this case cannot be counted"


async def test_an_unreadable_event_or_position_header_is_dead_lettered_at_once_and_the_rest_applied(
        pool, schema, nats_client):
    js = nats_client.jetstream()
    before = await publish(js, [a_referral()])
    await publish_raw(js, b'{"not": "an event"}', position="2")
    await publish_raw(js, a_referral().model_dump_json().encode(), position="not-a-number")
    await publish_raw(js, b"[" * 1000 + b"]" * 1000, position="4")
    await publish_raw(js, b'["a list, not an event"]', position="5")
    after = await publish(js, [a_referral()], first_position=6)
    runner = await a_runner(pool, schema, js)

    async with running(runner):
        assert await runner.wait_for(6, timeout=10)

    assert await counted(pool, schema) == before + after
    reasons = [(letter["sequence"], letter["reason"].split(":")[0]) for letter in await dead_letters(pool, schema)]
    assert reasons == [(2, "unreadable event"), (3, "unreadable header Casetrack-Position"), (4, "unreadable event"),
                       (5, "unreadable event")]
    assert all(letter["attempts"] == 1 for letter in await dead_letters(pool, schema))


async def test_two_replicas_of_one_projection_apply_every_event_once(pool, schema, nats_client):
    """Both replicas read under the same name, as two copies of one service do."""
    js = nats_client.jetstream()
    cases = await publish(js, [a_referral() for _ in range(600)])
    one = await a_runner(pool, schema, js, batch_size=25, reader="journeys-counted-referral")
    two = await a_runner(pool, schema, js, batch_size=25, reader="journeys-counted-referral")

    async with running(one), running(two):
        assert all(await asyncio.gather(one.wait_for(600, timeout=30), two.wait_for(600, timeout=30)))

    assert await counted(pool, schema) == cases


async def test_a_new_projection_backfills_from_the_first_event(pool, schema, nats_client):
    js = nats_client.jetstream()
    cases = await publish(js, [a_referral() for _ in range(20)])
    async with running(await a_runner(pool, schema, js)) as first:
        assert await first.wait_for(20, timeout=10)

    class SecondCount(CountedReferrals):
        name = "second_count"
        tables = ["CREATE TABLE IF NOT EXISTS second_count (case_id uuid NOT NULL, sequence bigint NOT NULL)"]

        async def apply_one(self, conn, recorded):
            await conn.execute("INSERT INTO second_count VALUES ($1, $2)", recorded.event.case_id, recorded.sequence)

    async with running(await a_runner(pool, schema, js, SecondCount(), reader="second")) as added:
        assert await added.wait_for(20, timeout=10)
    async with pool.acquire() as conn:
        assert [r[0] for r in await conn.fetch(f"SELECT case_id FROM {schema}.second_count ORDER BY sequence")] == cases


async def test_an_unreachable_database_is_waited_out_and_never_costs_an_event(nats_client, tmp_path):
    """PostgreSQL stops while a batch is being applied: nothing is dead-lettered, skipped or applied twice."""
    js = nats_client.jetstream()
    server = Postgres(tmp_path / "pg", free_port())
    server.start()
    pool = await asyncpg.create_pool(server.url, min_size=1, max_size=2)
    try:
        events = [a_referral() for _ in range(40)]
        cases = await publish(js, events)
        projection = CountedReferrals(hold_at=events[10].case_id)
        runner = await a_runner(pool, "outage", js, projection, batch_size=20)
        async with running(runner):
            await asyncio.wait_for(projection.held.wait(), 10)
            await asyncio.to_thread(server.stop)
            projection.release.set()  # the batch's commit now fails: the database is gone
            await asyncio.to_thread(server.start)
            assert await runner.wait_for(40, timeout=30)
        assert await counted(pool, "outage") == cases
        assert await dead_letters(pool, "outage") == []
    finally:
        await pool.close()
        server.stop()


async def test_a_rebuild_replaces_the_tables_only_when_complete_and_can_be_started_again(
        pool, schema, nats_client):
    js = nats_client.jetstream()
    events = [a_referral() for _ in range(30)]
    cases = await publish(js, events)
    live = await a_runner(pool, schema, js)
    async with running(live):
        assert await live.wait_for(30, timeout=10)
        async with pool.acquire() as conn:
            await conn.execute(f"DELETE FROM {schema}.counted")  # the read model has gone wrong

        stopping = CountedReferrals(hold_at=events[15].case_id)
        interrupted = asyncio.create_task(rebuild(
            stopping, {"referral": StreamSource(js, "referral", "rebuild", fetch_timeout=0.2)}, pool, schema,
            RebuildProgress("counted"), batch_size=10))
        await asyncio.wait_for(stopping.held.wait(), 10)
        interrupted.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await interrupted
        assert await counted(pool, schema) == []  # the old tables still answer, as they were

        more = await publish(js, [a_referral() for _ in range(5)], first_position=31)
        progress = RebuildProgress("counted")
        await rebuild(CountedReferrals(), {"referral": StreamSource(js, "referral", "rebuild", fetch_timeout=0.2)},
                      pool, schema, progress, batch_size=10)
        assert progress.state == "done" and progress.done == progress.total
        assert await live.wait_for(35, timeout=10)

    assert await counted(pool, schema) == cases + more
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname LIKE $1", f"{schema}_rebuild%") == 0


async def test_kill_9_of_a_runner_mid_batch_loses_and_doubles_nothing(postgres, pool, schema, nats_server,
                                                                       nats_client):
    js = nats_client.jetstream()
    events = [a_referral() for _ in range(120)]
    cases = await publish(js, events)
    held = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.integration.runner_held_mid_batch", postgres.url, nats_server.url, schema,
        str(events[75].case_id), stdout=asyncio.subprocess.PIPE)
    said = (await asyncio.wait_for(held.stdout.readline(), 30)).decode().split()
    assert said == ["held", "50"]  # the first batch of 50 committed; the second is half applied, uncommitted
    held.kill()
    await held.wait()

    async with running(await a_runner(pool, schema, js, reader="after-the-kill")) as restarted:
        assert restarted.position == 50
        assert await restarted.wait_for(120, timeout=15)

    assert await counted(pool, schema) == cases


async def test_a_projection_whose_version_is_raised_starts_again_from_the_first_event(pool, schema, nats_client):
    js = nats_client.jetstream()
    cases = await publish(js, [a_referral() for _ in range(10)])
    async with running(await a_runner(pool, schema, js)) as first:
        assert await first.wait_for(10, timeout=10)

    class CountedAgain(CountedReferrals):
        version = 2

    async with running(await a_runner(pool, schema, js, CountedAgain(), reader="again")) as changed:
        assert changed.position == 0
        assert await changed.wait_for(10, timeout=10)

    assert await counted(pool, schema) == cases  # the old table was dropped, not added to


async def test_a_stream_source_with_nothing_pending_answers_nothing_rather_than_failing(nats_client):
    """nats-py ends an empty pull with its own TimeoutError or, when the server's answer and the deadline
    cross, asyncio's: both mean "nothing yet" (the second used to stall the runner a second and recreate
    its consumer)."""
    source = StreamSource(nats_client.jetstream(), "referral", "idle", fetch_timeout=0.05)
    await source.open(0)
    try:
        assert [await source.read(100) for _ in range(20)] == [[]] * 20
    finally:
        await source.remove()


async def test_a_stream_source_hands_over_a_new_event_when_it_comes_not_when_its_pull_expires(nats_client):
    js = nats_client.jetstream()
    source = StreamSource(js, "referral", "trickle", fetch_timeout=600)
    await source.open(0)
    try:
        waiting = asyncio.create_task(source.read(1000))
        await publish(js, [a_referral()])
        [message] = await asyncio.wait_for(waiting, timeout=30)  # a pull for 1,000 would linger 600 s
        assert message.sequence == 1
    finally:
        await source.remove()


async def test_an_unreadable_event_whose_headers_postgres_refuses_is_still_dead_lettered(pool, schema, nats_client):
    js = nats_client.jetstream()
    await js.publish("casetrack.referral.preston.ReferralMade", b'{"not": "an event"}',
                     headers={POSITION_HEADER: "1", "X-Trace": "a\x00b", "Nats-Msg-Id": "nul\x00id"})
    after = await publish(js, [a_referral()], first_position=2)
    runner = await a_runner(pool, schema, js)

    async with running(runner):
        assert await runner.wait_for(2, timeout=10)

    assert await counted(pool, schema) == after
    [letter] = await dead_letters(pool, schema)
    assert letter["sequence"] == 1 and letter["reason"].startswith("unreadable event")


async def test_a_second_rebuild_of_a_projection_is_refused_while_one_runs(pool, schema, nats_client):
    js = nats_client.jetstream()
    events = [a_referral() for _ in range(300)]
    cases = await publish(js, events)
    live = await a_runner(pool, schema, js)
    async with running(live):
        assert await live.wait_for(300, timeout=20)
        holding = CountedReferrals(hold_at=events[100].case_id)
        first = asyncio.create_task(rebuild(
            holding, {"referral": StreamSource(js, "referral", "rebuild", fetch_timeout=0.2)}, pool, schema,
            progress := RebuildProgress("counted"), batch_size=50))
        await asyncio.wait_for(holding.held.wait(), 10)

        second = RebuildProgress("counted")
        await rebuild(CountedReferrals(), {"referral": StreamSource(js, "referral", "rebuild", fetch_timeout=0.2)},
                      pool, schema, second, batch_size=50)
        holding.release.set()
        await asyncio.wait_for(first, 30)

    assert (second.state, second.error) == ("failed", "RebuildRunning: another rebuild of counted is running")
    assert progress.state == "done"
    assert await counted(pool, schema) == cases


async def test_a_rebuild_whose_first_step_fails_says_so_and_can_be_asked_again(pool, schema, nats_client):
    class Broken(CountedReferrals):
        tables = [*CountedReferrals.tables, "CREATE INDEX IF NOT EXISTS counted_by_nothing ON counted (no_column)"]

    js = nats_client.jetstream()
    await a_runner(pool, schema, js)
    progress = RebuildProgress("counted")

    await rebuild(Broken(), {"referral": StreamSource(js, "referral", "rebuild", fetch_timeout=0.2)}, pool, schema,
                  progress)

    assert progress.state == "failed" and "no_column" in progress.error
    again = RebuildProgress("counted")
    await rebuild(CountedReferrals(), {"referral": StreamSource(js, "referral", "rebuild", fetch_timeout=0.2)},
                  pool, schema, again)
    assert again.state == "done"


async def test_an_event_whose_subject_is_not_its_own_is_dead_lettered_and_the_rest_applied(pool, schema, nats_client):
    """Nothing a peer sent is trusted beyond its permission: an event on preston's subject naming another district
    (what a peer allowed to publish on preston's subjects could send) is not applied."""
    js = nats_client.jetstream()
    before = await publish(js, [a_referral()])
    await publish_raw(js, a_referral(district="wyre").model_dump_json().encode(), position="2",
                      subject="casetrack.referral.preston.ReferralMade")
    after = await publish(js, [a_referral()], first_position=3)
    runner = await a_runner(pool, schema, js)

    async with running(runner):
        assert await runner.wait_for(3, timeout=10)

    assert await counted(pool, schema) == before + after
    [letter] = await dead_letters(pool, schema)
    assert letter["sequence"] == 2
    assert letter["reason"] == ("published on casetrack.referral.preston.ReferralMade, but the event is a ReferralMade "
                                "of district wyre (its subject is casetrack.referral.wyre.ReferralMade)")
