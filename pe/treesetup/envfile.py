"""A tree's environment: pe's variables, its ports, the manifest's `env:`.

The same mapping goes to the agent, the install, the verify command and every
later check (tree_env, below), and into one env file in the tree root
(`.pe.env` by default, KEY=value lines, values quoted so that python-dotenv
and a POSIX shell read the same: `set -a; . ./.pe.env; set +a`).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from pe.config.argv import expand
from pe.config.setup import SetupConfig
from pe.config.spec import Feature, TreeSpec
from pe.fsutil import write_atomic
from pe.layout import Layout

_SAFE = re.compile(r"^[A-Za-z0-9_./:@%+,=-]*$")


def placeholders(*, feature: str, tree: str, index: int, ports: tuple[int, ...], tree_dir: Path,
                 root: Path) -> dict[str, str]:
    values = {"tree": tree, "index": str(index), "feature": feature, "tree_dir": str(tree_dir), "root": str(root)}
    if ports:
        values["port"] = str(ports[0])
        values.update({f"port{i}": str(p) for i, p in enumerate(ports)})
    return values


def build(cfg: SetupConfig, *, feature: str, tree: str, index: int, ports: tuple[int, ...], tree_dir: Path,
          root: Path) -> dict[str, str]:
    """The variables of one tree, in the order they are written."""
    env = {
        "PE_FEATURE": feature,
        "PE_TREE": tree,
        "PE_INDEX": str(index),
        "PE_ENV_FILE": str(tree_dir / cfg.env_file),
    }
    if ports:
        env["PE_PORT"] = str(ports[0])
        env["PE_PORTS"] = ",".join(map(str, ports))
        env["PORT"] = str(ports[0])
    values = placeholders(feature=feature, tree=tree, index=index, ports=ports, tree_dir=tree_dir, root=root)
    for key, template in cfg.env:
        env[key] = expand(template, values, strict=f"setup.env.{key}")
    return env


def _quote(value: str) -> str:
    """`value` as sh, bash and python-dotenv all read it back unchanged (issue 17).

    shlex.quote writes a single quote as '"'"', which python-dotenv cannot read: it
    dropped the line. Single quotes where the value has no ' or \\ (python-dotenv
    unescapes \\\\ and \\' even there); else double quotes with \\ and " escaped, where
    the value has no $ or ` (sh would expand them, and python-dotenv keeps a \\$ as
    written). A value with both kinds, or with ${ (python-dotenv expands it in any
    quotes), has no spelling all three share: it is written for sh, which the module
    docstring promises; processes get the value itself, never through the file.
    """
    if _SAFE.match(value):
        return value
    if "${" not in value:
        if "'" not in value and "\\" not in value:
            return f"'{value}'"
        if "$" not in value and "`" not in value:
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return shlex.quote(value)


def render(env: dict[str, str], tree: str) -> str:
    lines = [f"# Written by pe for tree {tree}; rewritten on every setup, edit the manifest's setup.env instead."]
    lines += [f"{key}={_quote(value)}" for key, value in env.items()]
    return "\n".join(lines) + "\n"


def write(path: Path, env: dict[str, str], tree: str) -> str:
    """Write the env file (atomically); its text."""
    text = render(env, tree)
    write_atomic(path, text)
    return text


def tree_env(layout: Layout, feature: Feature, tree: TreeSpec) -> dict[str, str]:
    """Variables every process in this tree gets (agent, install, verify, checks).

    Leases the tree's ports if it holds none yet; otherwise returns the same ones.
    The agent step calls it right before the agent starts: it first waits for
    other trees that are copying this tree's node_modules (see treesetup/seed.py).
    """
    from pe.treesetup import ports, seed

    cfg = feature.setup
    tree_dir = layout.tree(tree.name)
    seed.quiesce(layout, tree.name)
    lease = ports.lease(layout, tree.name, cfg.per_tree, cfg.port_range, feature=feature.name, directory=tree_dir)
    return build(cfg, feature=feature.name, tree=tree.name, index=tree.index, ports=lease.ports,
                 tree_dir=tree_dir, root=layout.root)
