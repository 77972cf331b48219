"""The watch `casetrack up` keeps over every process it started: one that dies is restarted (sooner the first time,
later each time it keeps dying), a service that stops answering `/health` is killed and restarted, and each of
these gets a line in `casetrack up`'s log."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path

import httpx

from shared.devservers.engines import EngineFailed
from shared.devservers.runfolder import Owned


class Journal:
    """`casetrack up`'s own log (`data_dir/logs/casetrack-up.log`): one timestamped line for each start, stop,
    death and restart, also shown on the console when `echo` is given."""

    def __init__(self, path: Path, echo: Callable[[str], None] | None = None):
        self.path = path
        self.echo = echo
        self._lock = threading.Lock()

    def __call__(self, line: str, show: bool = True) -> None:
        """Log a line; `show=False` keeps a routine one (a start, a stop) off the console."""
        stamp = datetime.now().astimezone().isoformat(timespec="milliseconds")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as log:
                log.write(f"{stamp} {line}\n")
        if self.echo and show:
            try:
                self.echo(line)
            except OSError:  # the console is gone (its terminal closed): the log still has the line
                pass


@dataclass
class Backoff:
    """How long to wait before restarting a process that died: at once the first time, then 1, 2, 4 ... up to
    `ceiling` seconds while it keeps dying; once it has stayed up `settled_after` seconds it starts afresh."""

    first: float = 1.0
    ceiling: float = 30.0
    settled_after: float = 30.0
    deaths_in_a_row: int = 0
    started_at: float = 0.0

    def started(self, now: float) -> None:
        self.started_at = now

    def delay_after_death(self, now: float) -> float:
        if now - self.started_at >= self.settled_after:
            self.deaths_in_a_row = 0
        self.deaths_in_a_row += 1
        if self.deaths_in_a_row == 1:
            return 0.0
        return min(self.first * 2 ** (self.deaths_in_a_row - 2), self.ceiling)


@dataclass(frozen=True)
class Restart:
    """One restart, for the log and for tests: what was restarted, why, and its pid before and after."""

    name: str
    reason: str
    old_pid: int
    new_pid: int
    at: float = field(default_factory=time.time)


class Health(Enum):
    ANSWERED = "answered"  # any status: a 503 because a dependency is down is an answer
    NOT_LISTENING = "not listening"  # starting, or stopping: not frozen
    NOT_ANSWERING = "not answering"  # the connection was taken but no answer came: frozen or stuck


def ask_health(url: str, timeout: float) -> Health:
    try:
        httpx.get(f"{url}/health", timeout=timeout)
    except httpx.TimeoutException:
        return Health.NOT_ANSWERING
    except httpx.HTTPError:
        return Health.NOT_LISTENING
    return Health.ANSWERED


def how_it_ended(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


@dataclass
class Watch:
    """What the supervisor knows of one process."""

    owned: Owned
    backoff: Backoff = field(default_factory=Backoff)
    frozen: bool = False
    """Paused on purpose (SIGSTOP): its health is not asked until it is thawed."""
    stopped: bool = False
    """Stopped on purpose: not restarted until it is started again."""
    restart_at: float | None = None
    last_death: str = ""
    last_pid: int = 0
    unanswered: int = 0
    asked_at: float = 0.0
    asking: Future | None = None
    asked_pid: int = 0

    @property
    def pid(self) -> int | None:
        process = self.owned.process
        return process.pid if process is not None else None

    def running(self) -> bool:
        process = self.owned.process
        return process is not None and process.poll() is None


class Supervisor:
    """Checks every owned process every `interval` seconds, from a thread of its own.

    A dead one is reaped and restarted after its back-off. A service whose `/health` takes the connection but
    does not answer within `health_timeout` seconds `unanswered_limit` checks in a row is killed and restarted;
    not while it is frozen on purpose, nor while an engine is down, stopped or frozen (a service may then be
    slow to answer its health, and restarting it would not help). `on_started` is called after each restart."""

    def __init__(self, journal: Journal, on_started: Callable[[], None], *, interval: float = 0.5,
                 health_every: float = 1.0, health_timeout: float = 2.0, unanswered_limit: int = 3):
        self.journal = journal
        self.on_started = on_started
        self.interval = interval
        self.health_every = health_every
        self.health_timeout = health_timeout
        self.unanswered_limit = unanswered_limit
        self.watches: dict[str, Watch] = {}
        self.restarts: list[Restart] = []
        self.lock = threading.RLock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._askers = ThreadPoolExecutor(max_workers=8, thread_name_prefix="health")

    def watch(self, owned: Owned) -> None:
        with self.lock:
            self.watches[owned.name] = Watch(owned)
            self.watches[owned.name].backoff.started(time.monotonic())

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="casetrack-supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (whatever restart is under way finishes first); the processes are left as they are."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._askers.shutdown(wait=False, cancel_futures=True)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.check()
            except Exception as error:  # noqa: BLE001 - the watch must go on; the failure goes in the log
                self.journal(f"supervisor: {type(error).__name__}: {error}")

    def check(self, now: float | None = None) -> None:
        """One round: reap and restart the dead, count unanswered health checks, ask again."""
        now = time.monotonic() if now is None else now
        with self.lock:
            for watch in self.watches.values():
                if self._stopping.is_set() and self._thread is not None:
                    return
                self._check_alive(watch, now)
            engines_up = self.engines_up()
            for watch in self.watches.values():
                self._check_answers(watch, now, engines_up)

    def engines_up(self) -> bool:
        return all(w.running() and not (w.frozen or w.stopped or w.restart_at is not None)
                   for w in self.watches.values() if w.owned.kind == "engine")

    def _check_alive(self, watch: Watch, now: float) -> None:
        process = watch.owned.process
        if watch.stopped or process is None:
            return
        if watch.restart_at is None and process.poll() is not None:  # poll() reaps it: no zombie is left
            watch.frozen = False
            self._schedule_restart(watch, now, process.pid, f"died, {how_it_ended(process.returncode)}")
        if watch.restart_at is not None and now >= watch.restart_at:
            self._restart(watch, now)

    def _schedule_restart(self, watch: Watch, now: float, pid: int | None = None, reason: str | None = None) -> None:
        if reason is not None:
            watch.last_pid, watch.last_death = pid, reason
        delay = watch.backoff.delay_after_death(now)
        watch.restart_at, watch.unanswered, watch.asking = now + delay, 0, None
        if delay:
            self.journal(f"{watch.owned.program} (pid {watch.last_pid}) {watch.last_death}; restarting it in "
                         f"{delay:.0f} s ({watch.backoff.deaths_in_a_row} times in a row)")

    def _restart(self, watch: Watch, now: float) -> None:
        owned = watch.owned
        try:
            owned.start()
        except EngineFailed as error:
            self.journal(f"could not restart {owned.program}: {error}")
            self._schedule_restart(watch, now)
            return
        watch.restart_at = None
        watch.backoff.started(now)
        restart = Restart(owned.name, watch.last_death, watch.last_pid, owned.process.pid)
        self.restarts.append(restart)
        self.journal(f"{owned.program} (pid {restart.old_pid}) {restart.reason}; restarted it as pid "
                     f"{restart.new_pid}")
        self.on_started()

    def _check_answers(self, watch: Watch, now: float, engines_up: bool) -> None:
        if watch.asking is not None and watch.asking.done():
            health, watch.asking = watch.asking.result(), None
            if (health is not Health.NOT_ANSWERING or not engines_up or watch.frozen or not watch.running()
                    or watch.asked_pid != watch.pid):
                watch.unanswered = 0
            else:
                watch.unanswered += 1
                if watch.unanswered >= self.unanswered_limit:
                    self._kill_unanswering(watch, now)
                    return
        if (watch.owned.kind == "service" and watch.asking is None and not watch.frozen and not watch.stopped
                and watch.restart_at is None and watch.running() and now - watch.asked_at >= self.health_every):
            watch.asked_at, watch.asked_pid = now, watch.pid
            watch.asking = self._askers.submit(ask_health, watch.owned.url, self.health_timeout)

    def _kill_unanswering(self, watch: Watch, now: float) -> None:
        process = watch.owned.process
        process.kill()
        process.wait()
        self._schedule_restart(watch, now, process.pid, f"was not answering GET /health within "
                               f"{self.health_timeout:.0f} s, {self.unanswered_limit} checks in a row; killed it")
        if watch.restart_at <= now:
            self._restart(watch, now)
