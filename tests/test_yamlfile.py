"""Manifest YAML: the parse cache answers only for the exact text, and never for errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pe import yamlfile
from pe.errors import ManifestError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "f.yaml"
    path.write_text(text)
    return path


def test_a_parsed_manifest_is_cached_and_the_cache_answers_next_time(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    text = "feature: f\ncount: 2\nimplementations:\n  2: {strategy: simple}\n"
    path = _write(tmp_path, text)
    data = yamlfile.load(path, "f.yaml", cache)
    assert data == {"feature": "f", "count": 2, "implementations": {"2": {"strategy": "simple"}}}
    entry = cache / f"{yamlfile.cache_key(text)}.json"
    assert json.loads(entry.read_text()) == data
    # What the cache holds is what comes back (so YAML was not parsed again).
    entry.write_text('{"feature": "from-cache"}')
    assert yamlfile.load(path, "f.yaml", cache) == {"feature": "from-cache"}
    # Any change to the text is another key.
    path.write_text(text + "jobs: 1\n")
    assert yamlfile.load(path, "f.yaml", cache)["jobs"] == 1


def test_a_torn_cache_entry_is_a_miss(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    text = "feature: f\n"
    (cache / f"{yamlfile.cache_key(text)}.json").write_text('{"feat')
    assert yamlfile.load(_write(tmp_path, text), "f.yaml", cache) == {"feature": "f"}


def test_values_json_would_change_are_not_cached(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    data = yamlfile.load(_write(tmp_path, "feature: f\nwhen: 2026-11-27\n"), "f.yaml", cache)
    assert str(data["when"]) == "2026-11-27" and not cache.exists()


def test_errors_are_one_line_and_never_cached(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    path = _write(tmp_path, "feature: f\nfeature: g\n")
    for _ in range(2):
        with pytest.raises(ManifestError, match=r"^f.yaml: line 2: key 'feature' appears twice$"):
            yamlfile.load(path, "f.yaml", cache)
    assert not cache.exists()


def test_an_unwritable_cache_costs_nothing_but_speed(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    assert yamlfile.load(_write(tmp_path, "feature: f\n"), "f.yaml", blocked / "cache") == {"feature": "f"}
