"""What a sandboxed command may write, and the bind mounts that say it.

The whole file system is bound read-only, then the policy's paths are bound over it,
shallowest first, so that a child bind always wins over its parent's: a writable
object store inside a read-only `.git`, a read-only `.git` file inside a writable
tree, in whatever order the caller lists them. At one path, read-only wins.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TMP = Path("/tmp")  # noqa: S108  (the sandbox replaces it with a private one)

# bwrap options, by what a bind makes of its path.
RO = "--ro-bind"
RW = "--bind"


@dataclass(frozen=True, kw_only=True)
class Policy:
    """Where a sandboxed command may write, whether it may use the network, where it starts.

    writable: directories or files bound read-write; one that does not exist is skipped,
      unless it is also in `create`, then it is made (a directory, parents too) first.
    readonly: bound read-only after (over) the writable ones, e.g. a tree's `.git` file
      inside the writable tree, so the command can neither rewrite nor delete it.
      One that does not exist is skipped.
    Every path must be absolute. Symbolic links are resolved: the bind is of their target.
    """

    writable: tuple[Path, ...]
    cwd: Path
    network: bool = True
    readonly: tuple[Path, ...] = ()
    create: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        for field, paths in (("writable", self.writable), ("readonly", self.readonly),
                             ("create", self.create), ("cwd", (self.cwd,))):
            relative = [str(p) for p in paths if not Path(p).is_absolute()]
            if relative:
                raise ValueError(f"sandbox policy: {field} paths must be absolute: {', '.join(relative)}")
        stray = [str(p) for p in self.create if p not in self.writable]
        if stray:
            raise ValueError(f"sandbox policy: create lists paths that are not writable: {', '.join(stray)}")


def binds(policy: Policy, visible: tuple[Path, ...] = ()) -> list[str]:
    """The bind options (`--bind SRC DEST` / `--ro-bind SRC DEST` ...) for `policy`, in order.

    To be placed after `--ro-bind / /`, `--dev /dev`, `--proc /proc` and `--tmpfs /tmp`.
    Makes the `create` directories that are missing; skips paths that do not exist.
    A path under /tmp would be hidden by the private /tmp: its top-level entry there
    (e.g. /tmp/pytest-of-root) is bound back read-only first, so that the tree, its
    repository and the rest of that directory look as they do outside. `visible`: more
    paths that must not vanish that way (the program, the interpreter and its venv).
    """
    for path in policy.create:
        if not os.path.lexists(path):
            path.mkdir(parents=True, exist_ok=True)
    # (path, option) -> (depth, rank at equal depth: the /tmp entry 0, writable 1, read-only 2).
    planned: dict[tuple[Path, str], tuple[int, int]] = {}
    for rank, option, paths in ((1, RW, policy.writable), (2, RO, policy.readonly)):
        for path in paths:
            if not path.exists():
                continue
            real = path.resolve()
            planned[(real, option)] = (len(real.parts), rank)
    tmp = TMP.resolve()
    for real in [p for p, _ in planned] + [policy.cwd.resolve()] + [p.resolve() for p in visible]:
        if real != tmp and real.is_relative_to(tmp):
            top = tmp / real.relative_to(tmp).parts[0]
            planned.setdefault((top, RO), (len(top.parts), 0))
    out: list[str] = []
    for (real, option), _ in sorted(planned.items(), key=lambda item: (item[1], str(item[0][0]))):
        out += [option, str(real), str(real)]
    return out
