"""The six real agent CLIs, run headless against the scripted model server: no network, no key.

Each test runs the real program from .agents/bin (installed by .ci/install-agent-clis) in a
git repo under tmp_path, in its own process group with a timeout, exactly as an orchestrator
would. A missing binary skips the test, unless PE_REQUIRE_AGENT_CLIS=1 (then it fails).
PE_AGENT_BIN_DIR points at another directory of binaries.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.agent_clis import BIN_DIR
from tests.support.agent_clis import need as installed

from . import runner
from .clis import CLIS, Cli, Invocation, Outcome
from .script import RESULTS_SECTIONS, Script
from .server import ModelServer

# PE_AGENT_BIN_DIR: CLIs installed elsewhere (same layout as .agents/bin: one file a CLI).
# Sessions take 0.5-6 s here; the margin is for a loaded 2-core CI machine.
SESSION_TIMEOUT = 180.0
HANG_TIMEOUT = 6.0
PROMPT = "Implement the task, then write RESULTS.md."
NAMES = list(CLIS)


def need(name: str) -> Cli:
    installed(name)
    return CLIS[name]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=pe-test", "-c", "user.email=pe@test"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "README.md").write_text("offline test repo\n")
    subprocess.run([*git, "add", "README.md"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], check=True)
    return repo


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[ModelServer]:
    mode = getattr(request, "param", "normal")
    with ModelServer(mode=mode) as srv:
        yield srv


def offline(inv: Invocation) -> Invocation:
    # opencode asks the npm registry about its plugin packages on a fresh HOME (it works
    # without): point npm at a closed local port so the test never leaves the machine.
    inv.env["npm_config_registry"] = "http://127.0.0.1:9/"
    return inv


def session(
    cli: Cli, workdir: Path, tmp_path: Path, srv: ModelServer, timeout: float, tag: str = "run"
) -> tuple[runner.Finished, Outcome]:
    inv = offline(cli.run(BIN_DIR, workdir, tmp_path / "state", srv.url, PROMPT))
    done = runner.run(inv, timeout, tmp_path / "logs" / tag)
    return done, cli.parse(done.rc, done.stdout, done.stderr, inv.output_file)


def explain(done: runner.Finished, out: Outcome) -> str:
    return (
        f"rc={done.rc} timed_out={done.timed_out} {out}\nstdout: {done.stdout[-1500:]}\nstderr: {done.stderr[-1500:]}"
    )


def assert_wrote_results(workdir: Path) -> None:
    assert (workdir / "impl.txt").read_text() == Script().steps[0].content
    headings = [
        line[3:].strip() for line in (workdir / "RESULTS.md").read_text().splitlines() if line.startswith("## ")
    ]
    assert headings == list(RESULTS_SECTIONS)


@pytest.mark.parametrize("name", NAMES)
def test_session_writes_files_and_reports_usage(name: str, workdir: Path, tmp_path: Path, server: ModelServer) -> None:
    cli = need(name)
    done, out = session(cli, workdir, tmp_path, server, SESSION_TIMEOUT)
    assert not done.timed_out and done.rc == 0 and out.ok, explain(done, out)
    assert runner.group_alive(done.pgid) == []
    assert_wrote_results(workdir)
    assert out.input_tokens > 0 and out.output_tokens > 0 and out.turns >= 1
    assert (out.session_id is not None) == cli.has_session_id
    if cli.reports_cost:
        assert out.cost_usd is not None and out.cost_usd > 0
    # Every model call went to the scripted server (none to a real API).
    assert server.requests and all(r.reply not in ("404", "401") for r in server.requests)

    if cli.resume is None:
        return
    before = len(server.requests)
    inv = offline(cli.resume(BIN_DIR, workdir, tmp_path / "state", server.url, out.session_id, "Anything left?"))
    again = runner.run(inv, SESSION_TIMEOUT, tmp_path / "logs" / "resume")
    resumed = cli.parse(again.rc, again.stdout, again.stderr, inv.output_file)
    assert not again.timed_out and again.rc == 0 and resumed.ok, explain(again, resumed)
    assert resumed.session_id == out.session_id
    # The resumed request carried the earlier turns: both writes and the final answer.
    turns = [r for r in server.requests[before:] if r.tools]
    assert turns and max(r.assistant_turns for r in turns) >= len(Script().steps) + 1
    assert "RESULTS.md" in json.dumps(turns[0].body)


@pytest.mark.parametrize("server", ["401"], indirect=True)
@pytest.mark.parametrize("name", NAMES)
def test_auth_error_is_a_failure(name: str, workdir: Path, tmp_path: Path, server: ModelServer) -> None:
    cli = need(name)
    done, out = session(cli, workdir, tmp_path, server, SESSION_TIMEOUT)
    # No retry storm: claude without CLAUDE_CODE_MAX_RETRIES=0 retries a 401 for ~120 s.
    assert not done.timed_out and done.seconds < 60, explain(done, out)
    # aider exits 0 here, and gemini's JSON may still carry a session id: only the parser's
    # own test tells the failure.
    assert not out.ok and out.error, explain(done, out)
    assert any(r.reply == "401" for r in server.requests)
    assert not (workdir / "RESULTS.md").exists()


@pytest.mark.parametrize("server", ["hang"], indirect=True)
@pytest.mark.parametrize("name", NAMES)
def test_silent_server_is_killed_with_its_group(name: str, workdir: Path, tmp_path: Path, server: ModelServer) -> None:
    cli = need(name)
    done, out = session(cli, workdir, tmp_path, server, HANG_TIMEOUT)
    assert done.timed_out and not out.ok, explain(done, out)
    # gemini exits 0 on SIGTERM: the timeout, not the exit code, says the run failed.
    assert runner.group_alive(done.pgid) == []
    assert done.seconds < HANG_TIMEOUT + 2 * 2.0 + 10  # timeout + TERM/KILL graces + slack
    assert any(r.reply == "hang" for r in server.requests)  # it was waiting on the model


def test_parallel_agents_share_one_server(tmp_path: Path, server: ModelServer) -> None:
    """pe's case: several agents at once, one server; turns are told apart per request."""
    names = [n for n in NAMES if (BIN_DIR / n).exists()]
    if len(names) < 2:
        need(next(n for n in NAMES if n not in names))
    results: dict[str, tuple[runner.Finished, Outcome, Path]] = {}

    def one(name: str) -> None:
        base = tmp_path / name
        repo = base / "repo"
        repo.mkdir(parents=True)
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        done, out = session(CLIS[name], repo, base, server, SESSION_TIMEOUT)
        results[name] = (done, out, repo)

    threads = [threading.Thread(target=one, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name, (done, out, repo) in results.items():
        assert out.ok, f"{name}: {explain(done, out)}"
        assert_wrote_results(repo)
