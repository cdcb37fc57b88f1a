"""Manifest YAML: the parse cache answers only for the exact text, and never for errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pe import cache
from pe.config import yamlfile
from pe.errors import ManifestError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "f.yaml"
    path.write_text(text)
    return path


def _entry(state: Path, text: str) -> Path:
    return cache.entry(state, "yaml", f"{yamlfile.cache_key(text)}.json")


def test_a_parsed_manifest_is_cached_and_the_cache_answers_next_time(tmp_path: Path) -> None:
    state = tmp_path / ".pe"
    state.mkdir()
    text = "feature: f\ncount: 2\nimplementations:\n  2: {strategy: simple}\n"
    path = _write(tmp_path, text)
    data = yamlfile.load(path, "f.yaml", state)
    assert data == {"feature": "f", "count": 2, "implementations": {"2": {"strategy": "simple"}}}
    assert json.loads(_entry(state, text).read_text()) == data
    # What the cache holds is what comes back (so YAML was not parsed again).
    _entry(state, text).write_text('{"feature": "from-cache"}')
    assert yamlfile.load(path, "f.yaml", state) == {"feature": "from-cache"}
    # Any change to the text is another key.
    path.write_text(text + "jobs: 1\n")
    assert yamlfile.load(path, "f.yaml", state)["jobs"] == 1


def test_without_a_state_dir_the_entry_waits_for_the_command_to_make_one(tmp_path: Path) -> None:
    state = tmp_path / ".pe"
    text = "feature: f\n"
    assert yamlfile.load(_write(tmp_path, text), "f.yaml", state) == {"feature": "f"}
    assert not state.exists()  # nothing created just to cache
    state.mkdir()  # what taking the repository lock does
    cache.flush(state)
    assert json.loads(_entry(state, text).read_text()) == {"feature": "f"}


def test_a_torn_cache_entry_is_a_miss(tmp_path: Path) -> None:
    state = tmp_path / ".pe"
    text = "feature: f\n"
    _entry(state, text).parent.mkdir(parents=True)
    _entry(state, text).write_text('{"feat')
    assert yamlfile.load(_write(tmp_path, text), "f.yaml", state) == {"feature": "f"}


def test_values_json_would_change_are_not_cached(tmp_path: Path) -> None:
    state = tmp_path / ".pe"
    state.mkdir()
    data = yamlfile.load(_write(tmp_path, "feature: f\nwhen: 2026-11-27\n"), "f.yaml", state)
    assert str(data["when"]) == "2026-11-27" and not (state / "cache").exists()


def test_errors_are_one_line_and_never_cached(tmp_path: Path) -> None:
    state = tmp_path / ".pe"
    state.mkdir()
    path = _write(tmp_path, "feature: f\nfeature: g\n")
    for _ in range(2):
        with pytest.raises(ManifestError, match=r"^f.yaml: line 2: key 'feature' appears twice$"):
            yamlfile.load(path, "f.yaml", state)
    assert not (state / "cache").exists()


def test_an_unwritable_cache_costs_nothing_but_speed(tmp_path: Path) -> None:
    state = tmp_path / ".pe"
    state.mkdir()
    (state / "cache").write_text("a file where the cache directory would go")
    assert yamlfile.load(_write(tmp_path, "feature: f\n"), "f.yaml", state) == {"feature": "f"}
