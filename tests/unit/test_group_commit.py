"""Group commit: changes saved at the same moment by concurrent requests share one transaction, and each
still gets its own answer."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.eventstore import Change, GroupCommit


class ChangeRefused(Exception):
    pass


class Recorder:
    """Stands in for the store: records each transaction's changes; the first one waits until released, so
    the changes that arrive meanwhile queue up behind it; a change named in `refuse` fails its transaction."""

    def __init__(self, refuse: tuple[Change, ...] = ()):
        self.transactions: list[list[Change]] = []
        self.refuse = refuse
        self.first_started = threading.Event()
        self.release = threading.Event()
        self.position = 0

    def record_changes(self, changes) -> list[int]:
        if not self.transactions:
            self.first_started.set()
            self.release.wait(10)
        self.transactions.append(list(changes))
        if any(change is refused for change in changes for refused in self.refuse):
            raise ChangeRefused("refused")
        positions = []
        for _ in changes:
            self.position += 1
            positions.append(self.position)
        return positions


def a_change() -> Change:
    return Change(aggregates=(), events=())


def test_changes_that_arrive_while_a_transaction_commits_are_saved_together_in_the_next():
    recorder = Recorder()
    group = GroupCommit(recorder.record_changes)
    first, *others = [a_change() for _ in range(6)]
    with ThreadPoolExecutor(8) as pool:
        leading = pool.submit(group.save, first)
        assert recorder.first_started.wait(10)
        waiting = [pool.submit(group.save, change) for change in others]
        while len(group._waiting) < len(others):  # every other change is queued behind the first transaction
            pass
        recorder.release.set()
        positions = [leading.result(10)] + [future.result(10) for future in waiting]

    assert [len(transaction) for transaction in recorder.transactions] == [1, 5]
    assert sorted(positions) == [1, 2, 3, 4, 5, 6]


def test_a_change_that_fails_its_group_fails_alone_and_the_others_are_saved():
    bad = a_change()
    recorder = Recorder(refuse=(bad,))
    group = GroupCommit(recorder.record_changes)
    first, good = a_change(), a_change()
    with ThreadPoolExecutor(4) as pool:
        leading = pool.submit(group.save, first)
        assert recorder.first_started.wait(10)
        futures = [pool.submit(group.save, change) for change in (good, bad)]
        while len(group._waiting) < 2:
            pass
        recorder.release.set()
        assert leading.result(10) == 1
        saved, refused = futures

        assert saved.result(10) > 1
        with pytest.raises(ChangeRefused):
            refused.result(10)
    assert [len(transaction) for transaction in recorder.transactions][:2] == [1, 2]  # then each alone


def test_a_change_saved_alone_is_one_transaction():
    recorder = Recorder()
    recorder.release.set()
    group = GroupCommit(recorder.record_changes)

    assert [group.save(a_change()) for _ in range(3)] == [1, 2, 3]
    assert [len(transaction) for transaction in recorder.transactions] == [1, 1, 1]
