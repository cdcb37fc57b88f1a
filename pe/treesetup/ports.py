"""Port leases: a block of ports per tree, unique across every feature of the repo.

One lease file (.pe/ports.json) holds every tree's block, changed only under
an inter-process lock (.pe/ports.lock), so parallel setups in threads or in
other pe processes never hand out the same port. A new block is tested free by
binding 127.0.0.1 (and ::1 where IPv6 exists) before it is leased. A tree that
already holds a block keeps it on every later run, without testing it again:
its own dev server, left running by a killed run, may be the one bound to it.
"""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pe.errors import PeError
from pe.fsutil import read_json, write_json_atomic
from pe.layout import Layout
from pe.lock import file_lock
from pe.util import now_iso


@dataclass(frozen=True)
class Lease:
    ports: tuple[int, ...]
    reused: bool  # held from an earlier run
    skipped: tuple[int, ...] = field(default=())  # ports found in use by another process

    @property
    def first(self) -> int | None:
        return self.ports[0] if self.ports else None


def _bind_ok(family: int, host: str, port: int) -> bool | None:
    """True if free, False if in use, None if this address family is unavailable."""
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError:
        return None
    with sock:
        if family == socket.AF_INET6:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            # No SO_REUSEADDR: a port in TIME_WAIT counts as taken, on purpose.
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                return None
            return False
    return True


def port_free(port: int) -> bool:
    """Nobody listens on `port` on the loopback addresses (IPv4, and IPv6 if present).

    Dev servers on Node 17+ often listen on ::1 only, which does not block a
    127.0.0.1 bind; hence the second test.
    """
    if not _bind_ok(socket.AF_INET, "127.0.0.1", port):
        return False
    return _bind_ok(socket.AF_INET6, "::1", port) is not False


def _path(layout: Layout) -> Path:
    return layout.port_leases


@contextlib.contextmanager
def _leases(layout: Layout) -> Iterator[dict[str, Any]]:
    """The lease table, locked; written back (atomically) when the block exits cleanly."""
    with file_lock(layout.lock("ports")):
        data = read_json(_path(layout)) or {}
        leases: dict[str, Any] = data.get("leases", {}) if isinstance(data.get("leases"), dict) else {}
        before = repr(leases)
        yield leases
        if repr(leases) != before:
            write_json_atomic(_path(layout), {"version": 1, "leases": leases})


def _reclaim_dead(leases: dict[str, Any]) -> int:
    """Drop leases whose directory no longer exists (a tree deleted by hand)."""
    dead = [o for o, e in leases.items() if e.get("dir") and not Path(e["dir"]).is_dir()]
    for owner in dead:
        del leases[owner]
    return len(dead)


def lease(
    layout: Layout,
    owner: str,
    count: int,
    port_range: tuple[int, int],
    *,
    feature: str,
    directory: Path | None = None,
    is_free: Callable[[int], bool] = port_free,
) -> Lease:
    """The block of `count` ports `owner` (a tree name) holds, leasing one if needed."""
    lo, hi = port_range
    with _leases(layout) as leases:
        held = leases.get(owner)
        if count == 0:
            leases.pop(owner, None)
            return Lease((), reused=False)
        if held and len(held.get("ports", [])) == count and all(lo <= p <= hi for p in held["ports"]):
            return Lease(tuple(held["ports"]), reused=True)
        leases.pop(owner, None)
        skipped: list[int] = []
        for attempt in range(2):
            taken = {p for entry in leases.values() for p in entry.get("ports", [])}
            for base in range(lo, hi - count + 2, count):
                block = range(base, base + count)
                if any(p in taken for p in block):
                    continue
                busy = [p for p in block if not is_free(p)]
                if busy:
                    skipped.extend(busy)
                    continue
                leases[owner] = {"ports": list(block), "feature": feature, "at": now_iso(),
                                 "dir": str(directory) if directory else None}
                return Lease(tuple(block), reused=False, skipped=tuple(skipped))
            if attempt == 0 and not _reclaim_dead(leases):
                break
            skipped.clear()
        raise PeError(
            f"no free block of {count} port(s) in {lo}-{hi} for {owner}: {len(leases)} tree(s) hold leases "
            f"and {len(skipped)} port(s) are in use; widen setup.ports.range or remove unused trees"
        )


def leased(layout: Layout, owner: str) -> tuple[int, ...]:
    """The ports `owner` holds now (empty if none); read without changing anything."""
    data = read_json(_path(layout)) or {}
    entry = data.get("leases", {}).get(owner) or {}
    return tuple(entry.get("ports", ()))


def release(layout: Layout, owner: str) -> None:
    if not _path(layout).exists():
        return
    with _leases(layout) as leases:
        leases.pop(owner, None)


def all_leases(layout: Layout) -> dict[str, tuple[int, ...]]:
    data = read_json(_path(layout)) or {}
    return {owner: tuple(e.get("ports", ())) for owner, e in data.get("leases", {}).items()}
