"""What `casetrack up` (a `System`) records of the processes it runs, in `data_dir/run/`: a pid file per process,
so that the next run can find one left over, and `processes.json`, for `casetrack chaos` to find what to kill."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import psutil

from shared.devservers.engines import running


class Owned(Protocol):
    """A process a `System` starts, watches and stops: an engine or a service."""

    name: str
    kind: str  # "engine" or "service"
    program: str  # how the log names it
    process: object  # subprocess.Popen | None
    port: int

    @property
    def url(self) -> str: ...
    # an engine whose url carries a password also has `shown_url`, without it: what processes.json records

    @property
    def log(self) -> Path: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def is_ours(self, process: psutil.Process) -> bool: ...


@dataclass
class RunFolder:
    """`data_dir/run/`: `<name>.pid` for each running process and `processes.json` describing them all."""

    path: Path

    def pid_file(self, name: str) -> Path:
        return self.path / f"{name}.pid"

    def recorded(self) -> list[str]:
        """The names of the processes a run (this one or an earlier one) recorded and did not clear."""
        return sorted(file.stem for file in self.path.glob("*.pid")) if self.path.exists() else []

    def record(self, owned: Iterable[Owned]) -> None:
        """Write each running process's pid file and the whole of processes.json (replaced at once, so that a
        reader never sees half of it)."""
        self.path.mkdir(parents=True, exist_ok=True)
        described = {}
        for each in owned:
            if each.process is None or each.process.poll() is not None:
                continue
            self.pid_file(each.name).write_text(f"{each.process.pid}\n")
            described[each.name] = {"pid": each.process.pid, "kind": each.kind,
                                    "url": getattr(each, "shown_url", each.url), "port": each.port,
                                    "log": str(each.log)}
        partial = self.path / "processes.json.partial"
        partial.write_text(json.dumps(described, indent=2) + "\n")
        os.replace(partial, self.path / "processes.json")

    def forget(self, name: str) -> None:
        self.pid_file(name).unlink(missing_ok=True)

    def forget_all(self) -> None:
        for name in self.recorded():
            self.forget(name)
        (self.path / "processes.json").unlink(missing_ok=True)

    def left_over(self, name: str, is_ours: Callable[[psutil.Process], bool]) -> psutil.Process | None:
        """The process recorded as `name` if it still runs and is that program (a recorded pid may since have
        been given to another process: then it is not ours, and neither is a dead one; the pid file goes)."""
        try:
            pid = int(self.pid_file(name).read_text().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            self.forget(name)
            return None
        process = running(pid)
        if process is not None and is_ours(process):
            return process
        self.forget(name)
        return None
