"""--strategy=auto: the mix the history proposes (pe/history/mix.py), from seeded databases and end to end."""

from __future__ import annotations

from pathlib import Path

import yaml

from pe.config.strategies import DEFAULT_ORDER
from pe.history import mix
from tests.history import seed_rows
from tests.support import pe, write_manifest


def test_a_strategy_that_never_wins_is_replaced_by_the_best_and_the_reason_says_why(tmp_path: Path) -> None:
    conn = seed_rows.open_db(tmp_path)
    seed_rows.strategy_history(conn)
    m = mix.propose(conn, 4, DEFAULT_ORDER)
    assert m.from_history
    assert m.strategies == ("simple", "performance", "extensible", "performance")
    assert m.reasons == (
        "simple: adopted 4 of 10 times, eligible 10 of 10; kept",
        "performance: adopted 6 of 10 times, eligible 10 of 10; kept",
        # Never adopted either, but eligible more often than the others together (22 of 30): kept.
        "extensible: adopted 0 of 10 times, eligible 8 of 10; kept",
        "innovative: adopted 0 of 10 times, eligible 2 of 10; replaced by a second performance tree",
    )
    # The same history, the same mix; more trees cycle the default order, each slot judged.
    assert mix.propose(conn, 4, DEFAULT_ORDER) == m
    assert mix.propose(conn, 8, DEFAULT_ORDER).strategies[4:] == ("simple", "performance", "extensible",
                                                                 "performance")
    assert "a fourth performance tree" in mix.propose(conn, 8, DEFAULT_ORDER).reasons[7]


def test_without_history_the_default_order_and_one_line_saying_so(tmp_path: Path) -> None:
    m = mix.propose(None, 3, DEFAULT_ORDER)
    assert m == mix.Mix(("simple", "performance", "extensible"),
                        ("no history in this repository yet: the default order (simple, performance, extensible)",),
                        False)
    conn = seed_rows.open_db(tmp_path)  # a database, but nothing in it
    assert mix.propose(conn, 3, DEFAULT_ORDER).strategies == ("simple", "performance", "extensible")
    assert not mix.propose(conn, 3, DEFAULT_ORDER).from_history


def test_a_thin_history_keeps_the_default_and_too_few_runs_keep_their_place(tmp_path: Path) -> None:
    conn = seed_rows.open_db(tmp_path)
    for i in range(4):  # innovative: four runs, never adopted: below MIN_RUNS, nothing is judged
        rid = seed_rows.tree(conn, f"g{i}", 1, "innovative", created=f"2024-04-0{i + 1}T10:00:00")
        seed_rows.judged(conn, seed_rows.compare(conn, f"g{i}", f"2024-04-0{i + 1}T11:00:00"), rid, f"g{i}-1",
                         eligible=False)
    m = mix.propose(conn, 4, DEFAULT_ORDER)
    assert m.strategies == DEFAULT_ORDER and not m.from_history
    assert m.reasons == ("history too thin to choose from (4 runs, no strategy with 5): the default order "
                         "(simple, performance, extensible, innovative)",)
    seed_rows.strategy_history(conn, features=5)  # now five of each (and innovative nine, eligible 2)
    for i in range(2):
        seed_rows.tree(conn, f"h{i}", 1, "custom", created=f"2024-06-0{i + 1}T10:00:00")
    m = mix.propose(conn, 5, (*DEFAULT_ORDER, "custom"))
    assert m.strategies == ("simple", "performance", "extensible", "performance", "custom")
    assert m.reasons[3] == "innovative: adopted 0 of 9 times, eligible 2 of 9; replaced by a second performance tree"
    assert m.reasons[4] == "custom: too few runs to judge: 2; kept"


def test_ties_go_to_the_default_order(tmp_path: Path) -> None:
    conn = seed_rows.open_db(tmp_path)
    for f in range(5):  # b and a: the same record; c: never eligible nor adopted
        rounds = [seed_rows.tree(conn, f"t{f}", i + 1, s, created=f"2024-03-0{f + 1}T10:00:00")
                  for i, s in enumerate("bac")]
        cid = seed_rows.compare(conn, f"t{f}", f"2024-03-0{f + 1}T11:00:00")
        for i, rid in enumerate(rounds):
            seed_rows.judged(conn, cid, rid, f"t{f}-{i + 1}", eligible=i < 2)
    assert mix.propose(conn, 3, ("b", "a", "c")).strategies == ("b", "a", "b")
    assert mix.propose(conn, 3, ("a", "b", "c")).strategies == ("a", "b", "a")


def test_agents_by_the_same_rule(tmp_path: Path) -> None:
    conn = seed_rows.open_db(tmp_path)
    for f in range(5):
        day = f"2024-02-0{f + 1}"
        rounds = [seed_rows.tree(conn, f"a{f}", i + 1, "simple", agent=a, created=f"{day}T10:00:00")
                  for i, a in enumerate(("claude", "codex"))]
        cid = seed_rows.compare(conn, f"a{f}", f"{day}T11:00:00")
        seed_rows.judged(conn, cid, rounds[0], f"a{f}-1", eligible=True)
        seed_rows.judged(conn, cid, rounds[1], f"a{f}-2", eligible=False)
        seed_rows.adopt(conn, rounds[0], f"a{f}", f"a{f}-1", f"{day}T12:00:00")
    m = mix.propose(conn, 2, ("codex", "claude"), by="agent")
    assert m.strategies == ("claude", "claude")
    assert m.reasons[0] == "codex: adopted 0 of 5 times, eligible 0 of 5; replaced by a claude tree"


def test_pe_init_strategy_auto_writes_the_mix_to_the_manifest_and_prints_why(repo: Path) -> None:
    conn = seed_rows.open_db(repo)
    seed_rows.strategy_history(conn)
    conn.close()
    rc, out, err = pe(repo, "init", "--feature=feat", "--plan=specs/plan.md", "--count=4", "--strategy=auto",
                      "--agent-command=python tools/agent.py {prompt_file}")
    assert rc == 0, err
    data = yaml.safe_load((repo / "features" / "feat.yaml").read_text())
    assert data["strategies"] == ["simple", "performance", "extensible", "performance"]
    assert "--strategy=auto: simple, performance, extensible, performance" in out
    assert "  innovative: adopted 0 of 10 times, eligible 2 of 10; replaced by a second performance tree" in out
    assert (repo / "trees" / "feat-4").is_dir()
    # A rerun keeps the trees' mix, whatever the history says now, and says so.
    rc, out, err = pe(repo, "init", "--feature=feat", "--strategy=auto")
    assert rc == 0, err
    assert "the trees of feat exist: keeping the mix features/feat.yaml gives them" in out
    assert yaml.safe_load((repo / "features" / "feat.yaml").read_text())["strategies"] == data["strategies"]


def test_pe_init_strategy_auto_on_an_existing_manifest_writes_it_there(repo: Path) -> None:
    write_manifest(repo, count=4)
    rc, out, err = pe(repo, "init", "--feature=feat", "--strategy=auto")  # no history: the default, written
    assert rc == 0, err
    assert "no history in this repository yet: the default order (simple, performance, extensible, innovative)" in out
    data = yaml.safe_load((repo / "features" / "feat.yaml").read_text())
    assert data["strategies"] == list(DEFAULT_ORDER)
    assert data["agent"]["preset"] == "command"  # the rest of the manifest as it was


def test_a_corrupt_history_falls_back_to_the_default_saying_why(repo: Path) -> None:
    write_manifest(repo, count=2)
    (repo / ".pe").mkdir()
    (repo / ".pe" / "history.sqlite3").write_bytes(b"\x00garbage, not a database\xff" * 100)
    rc, out, err = pe(repo, "init", "--feature=feat", "--strategy=auto")
    assert rc == 0, err
    assert "the history could not be read (" in out
    assert yaml.safe_load((repo / "features" / "feat.yaml").read_text())["strategies"] == ["simple", "performance"]
