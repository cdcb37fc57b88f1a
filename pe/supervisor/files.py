"""The two files of a supervised attempt: what pe launched, and how it ended.

Both are JSON, written atomically, in .pe/supervise/<tree>/ (Layout.launch_file,
Layout.run_end). The launch file holds no environment: the supervisor gets that as
its own, so no API key is written to disk.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from pe import proc
from pe.fsutil import read_json, write_json_atomic

T = TypeVar("T", bound="_File")


class _File:
    """A dataclass kept as one JSON file, written atomically."""

    def save(self, path: Path) -> None:
        write_json_atomic(path, asdict(self))  # type: ignore[call-overload]

    @classmethod
    def load(cls: type[T], path: Path) -> T | None:
        """The file's value; None if it is missing, cut off, or of another version's shape."""
        data = read_json(path)
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        try:
            return cls(**{k: v for k, v in (data or {}).items() if k in names}) if data else None
        except TypeError:
            return None


@dataclass(frozen=True)
class Launch(_File):
    attempt: int
    argv: list[str]
    cwd: str
    log: str
    end: str  # where the supervisor writes the End
    timeout: float
    idle_timeout: float | None = None
    stdin: str | None = None
    scope: str | None = None  # the repository's state dir: the agent's PE_OWNER names it (proc.claim)
    # pe's side, for judging the run when a later pe finishes its bookkeeping:
    started_at: str | None = None
    log_offset: int = 0
    resume: bool = False
    session_id: str | None = None
    guard: dict[str, Any] = field(default_factory=dict)  # the before-snapshots (pe/tree/guard.py)


@dataclass(frozen=True)
class End(_File):
    """How an attempt ended, as its supervisor saw it."""

    attempt: int
    ended_by: str  # a key of pe.tree.runrecord.ENDED_BY
    ended_at: str
    duration_s: float
    returncode: int | None = None
    timed_out: bool = False
    idle_s: float | None = None
    signal: str | None = None  # what stopped the supervisor, when something did
    error: str | None = None  # the agent could not be started at all
    # time.time() once the run's processes were all gone: a look at the checkout that began
    # later saw all they did (pe/tree/guard.py). None in an end file of an older pe.
    ended_ts: float | None = None

    @property
    def interrupted(self) -> bool:
        return self.ended_by in ("user", "pe")

    def exit(self) -> proc.Exit:
        return proc.Exit(self.returncode, self.timed_out, self.interrupted, self.duration_s, self.idle_s)
