"""bench/harness.py's statistics and its A B A B order: no timing is asserted, ever."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "bench" / "harness.py"
_spec = importlib.util.spec_from_file_location("bench_harness", _PATH)
assert _spec is not None and _spec.loader is not None
harness = importlib.util.module_from_spec(_spec)
sys.modules["bench_harness"] = harness
_spec.loader.exec_module(harness)


def test_summary_is_median_min_max() -> None:
    assert harness.summary([3.0, 1.0, 2.0, 10.0]) == {"median": 2.5, "min": 1.0, "max": 10.0}


def test_ratios_are_taken_round_by_round() -> None:
    assert harness.per_round_ratios([2.0, 3.0], [1.0, 2.0]) == [2.0, 1.5]
    assert harness.per_round_ratios([2.0, 3.0], [1.0, 2.0], diff=True) == [1.0, 1.0]
    with pytest.raises(ValueError):
        harness.per_round_ratios([1.0], [1.0, 2.0])


def test_a_target_is_met_at_or_under_it() -> None:
    assert harness.judge(1.2, 1.2) is True
    assert harness.judge(1.21, 1.2) is False
    assert harness.judge(5.0, None) is None


def test_sides_alternate_after_a_dropped_warm_up() -> None:
    order: list[str] = []
    row = harness.Row("r", "a row", [
        harness.Side("a", lambda: order.append("a"), prepare=lambda: order.append("prep")),
        harness.Side("b", lambda: order.append("b")),
    ], [harness.Ratio("a", "b", 100.0)], setup=lambda: order.append("setup"))
    res = harness.measure(row, pairs=5, warmup=1)
    assert order == ["setup"] + ["prep", "a", "b"] * 6
    assert [len(s["values"]) for s in res["sides"]] == [5, 5]
    assert len(res["ratios"][0]["values"]) == 5
    assert set(res) >= {"load_before", "load_after", "pairs", "warmup"}


def test_rows_are_selected_by_key_and_an_unknown_one_is_refused() -> None:
    rows = [harness.Row(k, k, [], []) for k in ("x", "y", "z")]
    assert [r.key for r in harness.selected(rows, "z,x")] == ["z", "x"]
    with pytest.raises(SystemExit):
        harness.selected(rows, "x,nope")


def test_arguments_default_to_every_row_and_five_pairs() -> None:
    ap = argparse.ArgumentParser()
    harness.add_arguments(ap, ["x", "y"])
    args = ap.parse_args([])
    assert (args.rows, args.pairs, args.warmup, args.json) == ("x,y", 5, 1, None)
