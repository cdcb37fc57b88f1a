"""Reading a manifest's YAML safely: unique keys, bounded size, and a parse cache.

The limits exist because a manifest is input pe does not control (a pull
request can change it): duplicate keys would silently drop settings, and
aliases can expand a small file into billions of values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pe import __version__, cache
from pe.errors import ManifestError
from pe.fsutil import sha256_text

MANIFEST_MAX_BYTES = 1_000_000
MAX_VALUES = 100_000  # values in a manifest with its aliases expanded: a real one has a few hundred
MAX_DEPTH = 40


def load(path: Path, rel: str, state: Path | None = None) -> Any:
    """The YAML in `path`, or a one-line ManifestError naming `rel`.

    `state`: pe's state dir, where the parsed result is kept as JSON, keyed by the
    file's text (pe/cache.py). Importing PyYAML and parsing is about a tenth of a
    no-op `pe resume` or a `pe status`; a manifest changes rarely, so every later
    run reads JSON instead. Only results JSON gives back unchanged are cached.
    """
    try:
        size = path.stat().st_size
        if size > MANIFEST_MAX_BYTES:
            raise ManifestError(f"{rel}: the file is {size} bytes; the limit is {MANIFEST_MAX_BYTES}")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ManifestError(f"{rel}: not a UTF-8 text file") from None
    except OSError as exc:
        raise ManifestError(f"{rel}: cannot read: {exc.strerror}") from None
    entry = cache.entry(state, "yaml", f"{cache_key(text)}.json") if state is not None else None
    known = cache.get(entry) if entry is not None else None
    if known is not None:
        try:
            return json.loads(known)
        except ValueError:
            pass  # a torn entry: parse the YAML
    data = _parse(text, rel)
    if state is not None and entry is not None and _json_exact(data):
        cache.put(state, entry, json.dumps(data))
    return data


def cache_key(text: str) -> str:
    # pe's version is in the key: how pe reads YAML (integer keys, merges) may change with it.
    return sha256_text(f"pe {__version__}\n{text}")


def _json_exact(data: Any) -> bool:
    """True if JSON gives `data` back as it is (no dates, no non-text keys)."""
    try:
        return bool(json.loads(json.dumps(data)) == data)
    except (TypeError, ValueError):
        return False


def _parse(text: str, rel: str) -> Any:
    import yaml  # deferred: keeps `pe --help` fast, and a cached manifest never needs it

    # libyaml parses a manifest ten times faster (10,000 implementations entries: 3 s in pure
    # Python, issue 17); an error is parsed again by the Python loader, whose messages name
    # the problem the way the error lines promise, whichever yaml pe runs with.
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return _load(text, rel, fast)
        except yaml.YAMLError:
            pass
    return _load(text, rel, yaml.SafeLoader)


def _load(text: str, rel: str, base: Any) -> Any:
    import yaml

    class UniqueKeyLoader(base):
        pass

    def name(loader: yaml.SafeLoader, key_node: yaml.Node) -> str:
        key = loader.construct_object(key_node)
        # `2:` is how anyone writes implementations' keys: an integer key means its digits.
        # Other keys that are not text (null, yes, 1.5, a list) name nothing pe knows.
        if isinstance(key, int) and not isinstance(key, bool):
            return str(key)
        if not isinstance(key, str):
            shown = key if isinstance(key, (bool, float, type(None))) else type(key).__name__
            raise ManifestError(f"{rel}: line {key_node.start_mark.line + 1}: a key must be a name, got {shown!r}")
        return key

    def unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Any:
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *defaults`: its keys may be overridden here, that is the point
            key = name(loader, key_node)
            if key in seen:
                raise ManifestError(f"{rel}: line {key_node.start_mark.line + 1}: key {key!r} appears twice")
            seen.add(key)
        loader.flatten_mapping(node)  # merged keys first, so the mapping's own win below
        return {name(loader, k): loader.construct_object(v, deep=True) for k, v in node.value}

    UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, unique_mapping)
    try:
        data = yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        if base is not yaml.SafeLoader:
            raise  # parsed again by the Python loader, for its message
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ManifestError(f"{rel}: {where}not valid YAML ({problem})") from None
    except RecursionError:
        raise ManifestError(f"{rel}: nested more than {MAX_DEPTH} levels deep") from None
    _check_size(data, rel)
    return data


def _check_size(data: Any, rel: str) -> None:
    """Refuse a manifest whose aliases expand it past MAX_VALUES values, or nested past MAX_DEPTH.

    YAML aliases share one object, so loading nine nested levels of nine aliases
    each is cheap, but everything that walks the result (the schema check, the
    validation cache key) sees 9**9 values and runs out of memory.
    """
    stack: list[tuple[Any, int]] = [(data, 0)]
    count = 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise ManifestError(f"{rel}: more than {MAX_VALUES} values once its aliases (*name) are expanded")
        if depth > MAX_DEPTH:
            raise ManifestError(f"{rel}: nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
