"""Argv templates from the manifest: placeholders expanded, the program found. One expander for all.

The agent's `command:`, compare's `checks:` and setup's `env:` templates all go
through expand(); the first word of an agent's or a check's argv through program().
Nothing here runs a shell: a template is a list of words, and a word stays one word.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from pe.errors import PeError

PYTHON_NAMES = frozenset({"python", "python3"})
_PLACEHOLDER = re.compile(r"\{([a-z_0-9]*)\}")


def expand(template: str, values: Mapping[str, str], *, strict: str | None = None) -> str:
    """Replace `{key}` in `template` with values[key].

    Loose (the default, for argv words): a plain replacement, so other braces (a JSON
    argument, a shell snippet for `sh -c`) stay as written. Strict (`strict` names the
    manifest key, for setup's env:): `{{` and `}}` are literal braces, and an unknown
    `{key}` is an error naming the key and the placeholders that exist.
    """
    if strict is None:
        # One pass over the template: a value is never searched for placeholders itself (a
        # repository at /src/{feature}/app must reach the agent as written).
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)

    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in values:
            known = ", ".join("{" + k + "}" for k in values)
            raise PeError(f"{strict}: unknown placeholder: expected one of {known}, got {{{key}}}")
        return values[key]

    out = []
    for i, chunk in enumerate(template.split("{{")):
        if i:
            out.append("{")
        out.append("}".join(_PLACEHOLDER.sub(sub, part) for part in chunk.split("}}")))
    return "".join(out)


def program(first: str, root: Path, *, venv: Path | None = None) -> str:
    """The executable an argv's first word names.

    `python`/`python3`: the venv's interpreter if `venv` (a tree's .venv) has one, else
    the interpreter running pe (Debian has no `python` on PATH, and the user's venv is
    what they meant). A relative path with a slash: under `root`. Anything else: PATH.
    """
    if first in PYTHON_NAMES:
        own = venv / "bin" / "python" if venv is not None else None
        return str(own) if own is not None and own.exists() else sys.executable
    if "/" in first and not Path(first).is_absolute():
        return str(root / first)
    return first


def argv(template: Sequence[str], values: Mapping[str, str], root: Path, *, venv: Path | None = None) -> list[str]:
    """An argv template, expanded word by word, its program resolved."""
    words = [expand(word, values) for word in template]
    return [program(words[0], root, venv=venv), *words[1:]]
