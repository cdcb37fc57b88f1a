"""Changing a manifest the user wrote without losing what they wrote: comments, order, quoting.

pe writes into an existing manifest in two places: --strategy=auto records the mix it chose,
and pe synthesize records a synthesis tree. A PyYAML dump of the new data drops every comment,
among them the commented setup:/checks: sections pe init drafts for the user to fill in. So
these writes go through ruamel.yaml's round trip: the file is loaded with its comments, only the
top-level keys whose value changed are replaced, and it is written back. A new manifest (nothing
to keep) is still written by pe.config.manifest.write_manifest.
"""

from __future__ import annotations

import io
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from pe.config import manifest
from pe.fsutil import write_atomic
from pe.layout import Layout


def write(layout: Layout, data: dict[str, Any]) -> Path:
    """Write `data` as features/<feature>.yaml, keeping the existing file's comments and layout."""
    path = layout.manifest(data["feature"])
    if not path.is_file():
        return manifest.write_manifest(layout, data)
    from ruamel.yaml import YAML  # only here: no other command pays for importing it

    yaml = YAML()  # round-trip: comments and key order survive load and dump
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a user's long line
    doc = yaml.load(path.read_text(encoding="utf-8"))
    if not isinstance(doc, MutableMapping):
        return manifest.write_manifest(layout, data)
    for key in [k for k in doc if k not in data]:
        del doc[key]
    for key, value in data.items():
        # A value that did not change keeps its comments and formatting (ruamel's types compare
        # equal to the plain dicts, lists and strings they hold).
        if key not in doc or doc[key] != value:
            doc[key] = value
    out = io.StringIO()
    yaml.dump(doc, out)
    write_atomic(path, out.getvalue())
    return path
