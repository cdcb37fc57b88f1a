"""The manifest's `setup:` section, parsed once into typed settings.

The schema (schemas/setup.schema.json) has already checked shapes; this turns
them into values with defaults and reports what only makes sense at run time
(an unbalanced quote in a command string) as one-line PeErrors naming the key.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from pe.config.durations import duration
from pe.config.schema import shown
from pe.errors import ManifestError
from pe.fsutil import sha256_text

DEFAULT_ENV_FILE = ".pe.env"
DEFAULT_COPY = ("**/.env*",)
DEFAULT_PORT_RANGE = (4100, 4999)
DEFAULT_PER_TREE = 1
DEFAULT_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class SetupConfig:
    copy: tuple[str, ...]  # globs relative to the repository root
    copy_is_default: bool  # no `copy:` key: carry the .env* files that exist
    symlink: tuple[str, ...]
    env: tuple[tuple[str, str], ...]  # templates, expanded per tree
    env_file: str
    per_tree: int
    port_range: tuple[int, int]
    install: str | tuple[str, ...]  # "auto" | "none" | an argv
    verify: tuple[str, ...] | None
    baseline: bool
    timeout_s: float
    digest: str = ""  # of the section as written: what the setup stamp records (kept as earlier pe wrote it)

    def identity(self) -> str:
        """A hash of everything that decides how a tree is set up."""
        return sha256_text(json.dumps(
            [self.copy, self.symlink, self.env, self.env_file, self.per_tree, self.port_range,
             self.install, self.verify, self.baseline], sort_keys=True))


def command(value: Any, where: str) -> tuple[str, ...]:
    """A command from the manifest: an argv list as is, or a string split like a shell would.

    The string is only split (shlex), never given to a shell: no pipes,
    redirections, `&&` or variable expansion. Write `[sh, -c, "..."]` for those.
    """
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    try:
        argv = shlex.split(str(value))
    except ValueError as exc:
        raise ManifestError(f"{where}: expected a command line shlex can split ({exc}), got {shown(value)}") from None
    if not argv:
        raise ManifestError(f"{where}: expected a command, got {shown(value)}")
    return tuple(argv)


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse(setup: dict[str, Any] | None, where: str = "setup") -> SetupConfig:
    setup = setup or {}
    install_raw = setup.get("install", "auto")
    install: str | tuple[str, ...]
    if install_raw in ("auto", "none"):
        install = str(install_raw)
    else:
        install = command(install_raw, f"{where}.install")
    verify = command(setup["verify"], f"{where}.verify") if setup.get("verify") is not None else None
    ports = setup.get("ports", {})
    rng = ports.get("range", list(DEFAULT_PORT_RANGE))
    per_tree = int(ports.get("per_tree", DEFAULT_PER_TREE))
    if per_tree and rng[1] - rng[0] + 1 < per_tree:
        raise ManifestError(f"{where}.ports.range: expected a range of at least per_tree={per_tree} ports, "
                            f"got {shown(rng)}")
    return SetupConfig(
        copy=tuple(setup["copy"]) if "copy" in setup else DEFAULT_COPY,
        copy_is_default="copy" not in setup,
        symlink=tuple(setup.get("symlink", ())),
        env=tuple((k, _env_value(v)) for k, v in sorted(setup.get("env", {}).items())),
        env_file=setup.get("env_file", DEFAULT_ENV_FILE),
        per_tree=per_tree,
        port_range=(int(rng[0]), int(rng[1])),
        install=install,
        verify=verify,
        baseline=bool(setup.get("baseline", False)),
        timeout_s=duration(setup.get("timeout", DEFAULT_TIMEOUT_S), f"{where}.timeout"),
        digest=sha256_text(json.dumps(setup, sort_keys=True)),
    )

