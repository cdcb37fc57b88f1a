"""`pe execute` and `pe resume` with each real agent CLI, against the scripted model server.

Real git in tmp_path, the real CLI as pe's child in its own process group, pe started the
way a user starts it (pe.main.main); the only fake is the model API. The manifest's agent
env:/args:/model: point each preset at the server (see tests/support/agent_clis.py).
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pe.main import main
from tests.model_server import ModelServer, Script, WriteFile, default_results_md
from tests.model_server.script import RESULTS_SECTIONS
from tests.model_server.server import Recorded
from tests.support import run_record, write_manifest
from tests.support.agent_clis import (
    MODELS,
    PRESETS,
    REPORTS_COST,
    RESUMABLE,
    agent_log,
    available,
    need,
    offline_agent,
)
from tests.support.sandbox import need_sandbox

PLAN_MARK = "Write impl.txt with the tree's name."  # tests.support's PLAN, the repo fixture's: proves the prompt arrived
IMPL = "implemented by the scripted model\n"
LONG_PLAN_END = "end-of-long-plan-5d1c"
LONG_PLAN = "\n## Details\n\n" + "".join(f"- detail {i}: keep the module small.\n" for i in range(4500)) + LONG_PLAN_END


@pytest.fixture
def server() -> Iterator[ModelServer]:
    with ModelServer() as srv:
        yield srv


def execute(repo: Path, *flags: str) -> int:
    return main(["execute", "--feature=feat", f"--dir={repo}", *flags])


def turns(srv: ModelServer, start: int = 0) -> list[Recorded]:
    return [r for r in list(srv.requests)[start:] if r.is_turn()]


def branch_files(repo: Path, tree: str) -> set[str]:
    """Files the tree's branch changed since the base, and anything left uncommitted."""
    tree_dir = repo / "trees" / tree
    changed = subprocess.run(
        ["git", "diff", "--name-only", "main", "HEAD"], cwd=tree_dir, check=True, capture_output=True, text=True
    ).stdout.split()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=tree_dir, check=True, capture_output=True,
        text=True,
    ).stdout
    assert dirty == "", f"pe left uncommitted files in {tree}: {dirty}"
    return set(changed)


def explain(repo: Path, tree: str = "feat-1") -> str:
    return agent_log(repo, tree)[-4000:]


def check_results(tree_dir: Path) -> None:
    assert (tree_dir / "impl.txt").read_text() == IMPL
    text = (tree_dir / "RESULTS.md").read_text()
    assert [ln[3:].strip() for ln in text.splitlines() if ln.startswith("## ")] == list(RESULTS_SECTIONS)


@pytest.mark.parametrize("sandbox", ["none", "bwrap"])
@pytest.mark.parametrize("name", PRESETS)
def test_agent_edits_its_tree_and_pe_records_session_and_usage(
    name: str, sandbox: str, repo: Path, tmp_path: Path, server: ModelServer, capsys: pytest.CaptureFixture[str]
) -> None:
    need(name)
    if sandbox == "bwrap":
        need_sandbox()  # the real CLI in bubblewrap: its state dir writable, the rest of the repo not
    # A plan longer than one argv string may be (128 KiB on Linux): the prompt must travel
    # on stdin or in a file.
    plan = repo / "specs" / "plan.md"
    plan.write_text(plan.read_text() + LONG_PLAN)
    write_manifest(repo, count=1, timeout="5m", agent=offline_agent(name, server.url, tmp_path / "state"),
                   sandbox=sandbox)
    assert execute(repo) == 0, explain(repo)
    rec = run_record(repo, "feat-1")
    assert rec["state"] == "done" and rec["attempts"] == 1 and rec["reason"] is None
    assert rec["sandbox"] == sandbox
    check_results(repo / "trees" / "feat-1")
    # The branch holds the work and nothing else: no history files, caches or trajectories.
    assert branch_files(repo, "feat-1") == {"impl.txt", "RESULTS.md"}
    usage = rec["usage"]
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0 and usage["turns"] >= 1, usage
    assert usage["cached_tokens"] >= 0
    if name in REPORTS_COST:
        assert usage["cost_usd"] > 0, usage
    else:
        assert "cost_usd" not in usage
    assert (rec["session_id"] is not None) == (name in RESUMABLE), rec
    seen = turns(server)
    assert seen, "no model turn reached the server"
    # The whole prompt reached the model, from the plan's first line to its last.
    assert PLAN_MARK in json.dumps(seen[0].body) and LONG_PLAN_END in json.dumps(seen[0].body)
    assert all(r.reply not in ("401", "404") for r in server.requests)
    if MODELS[name] and seen[0].api in ("chat", "responses"):
        # The model flag: litellm strips its "openai/" routing prefix, opencode its provider.
        assert seen[0].body["model"] == (MODELS[name] or "").rsplit("/", 1)[-1]
    # status shows the same figures: tokens, turns and cost (where reported) per tree.
    capsys.readouterr()
    assert main(["status", "--feature=feat", f"--dir={repo}", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["input_tokens"], row["output_tokens"], row["turns"]) == (
        usage["input_tokens"], usage["output_tokens"], usage["turns"]
    )
    assert row["cost_usd"] == usage.get("cost_usd")


STOP_EARLY = Script(steps=(WriteFile("impl.txt", IMPL),), final="Stopping before RESULTS.md for now.")
# A resumed session already holds two assistant turns (the write and the final answer), so
# its next turn is step 3; a new session (aider, mini) walks all three.
FINISH = Script(
    steps=(WriteFile("impl.txt", IMPL), WriteFile("impl.txt", IMPL), WriteFile("RESULTS.md", default_results_md()))
)
CONTEXT_MARK = "resume-context-7f3a: finish the report"


@pytest.mark.parametrize("name", PRESETS)
def test_resume_continues_the_same_session(name: str, repo: Path, tmp_path: Path, server: ModelServer) -> None:
    need(name)
    server.script = STOP_EARLY
    write_manifest(repo, count=1, timeout="5m", agent=offline_agent(name, server.url, tmp_path / "state"))
    assert execute(repo) == 1
    first = run_record(repo, "feat-1")
    assert first["state"] == "failed" and first["reason"] == "the agent left no RESULTS.md", first
    assert first["usage"]["turns"] >= 1  # recorded for a failed run too
    session = first["session_id"]
    assert (session is not None) == (name in RESUMABLE)
    fresh = turns(server)[0].assistant_turns  # what a new session's first request holds

    before = len(server.requests)
    server.script = FINISH
    assert main(["resume", "--feature=feat", f"--dir={repo}", f"--context={CONTEXT_MARK}"]) == 0, explain(repo)
    rec = run_record(repo, "feat-1")
    assert rec["state"] == "done" and rec["attempts"] == 2
    check_results(repo / "trees" / "feat-1")
    resumed = turns(server, before)
    assert CONTEXT_MARK in json.dumps(resumed[0].body)  # the resume prompt reached the model
    # The usage recorded is this run's, not the session's running total (codex reports that).
    reported = sum(r.input_tokens for r in list(server.requests)[before:])
    assert 0 < rec["usage"]["input_tokens"] <= reported, (rec["usage"], reported)
    if name in RESUMABLE:
        assert rec["session_id"] == session
        # The same session: the resumed request carries the first run's assistant turns (its
        # write and its final answer) as conversation, not just as text in the prompt.
        assert resumed[0].assistant_turns >= fresh + 2, (fresh, resumed[0].assistant_turns)
    else:
        # No session to continue: a new conversation, given the resume prompt.
        assert rec["session_id"] is None
        assert resumed[0].assistant_turns == fresh


@pytest.mark.parametrize("name", PRESETS)
def test_401_fails_the_tree_with_the_reason(name: str, repo: Path, tmp_path: Path, server: ModelServer) -> None:
    need(name)
    server.mode = "401"
    write_manifest(repo, count=1, timeout="5m", agent=offline_agent(name, server.url, tmp_path / "state"))
    start = time.monotonic()
    assert execute(repo) == 1
    rec = run_record(repo, "feat-1")
    # aider exits 0 here: the preset's own reading of the output fails the tree.
    assert rec["state"] == "failed", rec
    assert rec["reason"].startswith(f"{name}: ") and re.search(r"401|auth|api key", rec["reason"], re.I), rec
    # Not a transient failure: no retry.
    assert rec["attempts"] == 1 and "transient failure" not in agent_log(repo, "feat-1")
    assert any(r.reply == "401" for r in server.requests)
    assert not (repo / "trees" / "feat-1" / "RESULTS.md").exists()
    assert not (repo / ".pe" / "stamps" / "feat-1.agent.json").exists()
    assert time.monotonic() - start < 90  # no retry storm (claude's default retries take ~2 min)


def _procs_with(marker: bytes) -> set[int]:
    """Live (non-zombie) processes whose environment holds `marker`."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            found.add(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_silent_server_timeout_kills_every_agent_group(repo: Path, tmp_path: Path) -> None:
    """Every preset at once against servers that accept and never answer.

    Half are stopped by their timeout, half by the idle watchdog; afterwards no process
    that carried the tree's PE_TREE_DIR is left (children included).
    """
    names = available()
    servers = {n: ModelServer(mode="hang").start() for n in names}
    try:
        impls = {}
        for i, name in enumerate(names, 1):
            # Generous limits: six CLIs start at once on a loaded 2-core machine.
            limits = {"timeout": 30} if i % 2 else {"timeout": "5m", "idle_timeout": 15}
            impls[str(i)] = {"agent": offline_agent(name, servers[name].url, tmp_path / "state" / name, **limits)}
        write_manifest(repo, count=len(names), jobs=len(names), agent=impls["1"]["agent"], implementations=impls)
        markers = {i: f"PE_TREE_DIR={repo / 'trees' / f'feat-{i}'}".encode() for i in range(1, len(names) + 1)}
        seen: dict[int, set[int]] = {i: set() for i in markers}
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                for i, marker in markers.items():
                    seen[i] |= _procs_with(marker)
                stop.wait(0.5)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        start = time.monotonic()
        try:
            assert execute(repo) == 1
        finally:
            stop.set()
            watcher.join()
        for i, name in enumerate(names, 1):
            rec = run_record(repo, f"feat-{i}")
            assert rec["state"] == "failed" and rec["attempts"] == 1, (name, rec)  # a kill is not transient
            expected = "timed out after 30s" if i % 2 else "without output or file changes"
            assert expected in rec["reason"] and "(process group killed)" in rec["reason"], (name, rec)
            if i % 2:
                # Killed at the 30 s timeout: it had time to reach the silent server. An idle-killed
                # CLI may not have (opencode alone takes >15 s to start on a loaded 2-core CI box).
                assert any(r.reply == "hang" for r in servers[name].requests), f"{name} never reached the model"
            assert seen[i], f"{name}: no agent process was seen"
            assert _procs_with(markers[i]) == set(), f"{name}: processes left behind"
            if name in ("claude", "codex"):
                # Their event streams name the session before the first model call, so even
                # a killed run can be resumed.
                assert rec["session_id"], (name, rec)
        assert time.monotonic() - start < 120
    finally:
        for srv in servers.values():
            srv.stop()


def test_three_presets_at_once(repo: Path, tmp_path: Path, server: ModelServer) -> None:
    names = ("claude", "codex", "gemini")
    for name in names:
        need(name)
    # Each agent's first model turn is held until all three CLIs have sent one: a run of
    # one after the other would leave them waiting out gather_timeout.
    server.gather_apis = frozenset({"anthropic", "responses", "gemini"})
    impls = {str(i): {"agent": offline_agent(n, server.url, tmp_path / "state" / n)} for i, n in enumerate(names, 1)}
    write_manifest(repo, count=3, jobs=3, timeout="5m", agent=impls["1"]["agent"], implementations=impls)
    assert execute(repo) == 0, "\n".join(explain(repo, f"feat-{i}") for i in (1, 2, 3))
    assert server.gather_missed == [], "the agents did not run at the same time"
    sessions = set()
    for i, name in enumerate(names, 1):
        rec = run_record(repo, f"feat-{i}")
        assert rec["state"] == "done" and rec["usage"]["output_tokens"] > 0, (name, rec)
        check_results(repo / "trees" / f"feat-{i}")
        sessions.add(rec["session_id"])
    assert len(sessions) == 3 and None not in sessions


# CLIs whose own retries of a 503 end within seconds here: claude (pe's default of 2),
# codex (retries off in the test provider), mini (told to try once). gemini and opencode
# retry for over a minute by themselves before giving up, too slow to test this way.
@pytest.mark.parametrize("name", ["claude", "codex", "mini"])
def test_transient_failure_is_retried_with_backoff(
    name: str, repo: Path, tmp_path: Path, server: ModelServer
) -> None:
    need(name)
    server.mode = "503"
    env = {"MSWEA_MODEL_RETRY_STOP_AFTER_ATTEMPT": "1"} if name == "mini" else {}
    agent = offline_agent(name, server.url, tmp_path / "state", retries=1, env=env)
    write_manifest(repo, count=1, timeout="5m", agent=agent)
    log = repo / ".pe" / "logs" / "feat-1" / "agent.log"
    stop = threading.Event()

    def recover() -> None:
        # The server comes back while pe waits out its backoff (5 s before the first retry).
        while not stop.is_set():
            if log.exists() and "=== pe: transient failure" in log.read_text(errors="replace"):
                server.mode = "normal"
                return
            stop.wait(0.1)

    thread = threading.Thread(target=recover, daemon=True)
    thread.start()
    try:
        assert execute(repo) == 0, explain(repo)
    finally:
        stop.set()
        thread.join()
    rec = run_record(repo, "feat-1")
    # Two tries within one pe run: two attempts, each in the history, the first the agent's failure.
    assert rec["state"] == "done" and rec["attempts"] == 2 and len(rec["history"]) == 2, rec
    assert [(h["state"], h["ended_by"]) for h in rec["history"]] == [("failed", "agent"), ("done", "agent")]
    # pe's retry line names the preset's reason for calling it transient.
    line = agent_log(repo, "feat-1").split("=== pe: transient failure (", 1)[1].splitlines()[0]
    assert line.startswith(f"{name}: ") and re.search(r"503|overloaded", line, re.I), line
    assert any(r.reply == "503" for r in server.requests)
    # (claude's retry resumes its session, whose failed turn counts as an assistant turn for
    # the script, so impl.txt may be skipped; RESULTS.md is what pe requires.)
    assert "## Testing Strategy" in (repo / "trees" / "feat-1" / "RESULTS.md").read_text()


# budget_usd is enforced by the CLIs that have a spend limit. The scripted server's usage
# costs real money at the models' list prices (claude's default model: ~$0.1 a turn here;
# mini: the test price file), so a tiny budget stops each after its first model call.
@pytest.mark.parametrize(("name", "budget", "why"), [("claude", 0.01, "budget"), ("mini", 0.0001, "LimitsExceeded")])
def test_budget_stops_the_agent(
    name: str, budget: float, why: str, repo: Path, tmp_path: Path, server: ModelServer
) -> None:
    need(name)
    agent = offline_agent(name, server.url, tmp_path / "state", budget_usd=budget)
    write_manifest(repo, count=1, timeout="5m", agent=agent)
    assert execute(repo) == 1
    rec = run_record(repo, "feat-1")
    assert rec["state"] == "failed" and why in rec["reason"], rec
    assert rec["usage"]["cost_usd"] >= budget and rec["usage"]["input_tokens"] > 0
    assert not (repo / "trees" / "feat-1" / "RESULTS.md").exists()  # stopped before its second turn


def test_a_real_cli_outlives_a_kill_9_of_pe_and_resume_does_not_run_it_again(
    repo: Path, tmp_path: Path, server: ModelServer
) -> None:
    """claude, mid-turn (the server holds its request) when pe is killed; its supervisor keeps it."""
    from tests.support import pe_popen, pe_run, wait_for

    need("claude")
    server.mode = "hold"
    write_manifest(repo, count=1, timeout="5m", agent=offline_agent("claude", server.url, tmp_path / "state"))
    pe = pe_popen(repo, "execute", "--feature=feat", "--plain")
    wait_for(lambda: bool(turns(server)), timeout=120, what="claude's first model turn")
    pe.kill()
    pe.wait()
    server.mode = "normal"
    server.released.set()
    res = pe_run(repo, "resume", "--feature=feat", "--plain", timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr + explain(repo)
    record = run_record(repo, "feat-1")
    assert record["attempts"] == 1 and [h["ended_by"] for h in record["history"]] == ["agent"], record
    assert agent_log(repo, "feat-1").count("=== pe: attempt ") == 1  # one start of the CLI, ever
    check_results(repo / "trees" / "feat-1")
    assert "impl.txt" in branch_files(repo, "feat-1")
