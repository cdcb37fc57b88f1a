"""What the tests share (like pre-commit's testing/): `from tests.support import git, write_manifest, ...`.

Here: real repositories (git, write_manifest, PLAN, SCRIPTED_AGENT), what pe and the scripted
agent leave in them (agent_runs, starts, run_record), running pe (pe_cmd, pe_run,
pe, pe_exit, pe_popen, wait_for, kill_group) and proving nothing changed (snapshot, same, refs).
Fixtures stay in the conftest.py files (tests/conftest.py: repo, agent_log).

The rest is imported from its module:
  tests.support.cycle        the fib project whose trees status/recover/compare/adopt/cleanup test,
                             with tests/support/cycle_agent.py (run by path) as every tree's agent
  tests.support.treesetup    the tree-setup helpers and their fixture projects in data/
  tests.support.faults       the fault-trial harness of tests/faults
  tests.support.agent_clis   the real agent CLIs pointed at tests/model_server, for tests/agents
tests/scripted_agent.py, the `repo` fixture's agent, stays where README.md names it.
"""

from tests.support.repo import (
    PLAN,
    SCRIPTED_AGENT,
    SCRIPTED_COMMAND,
    TESTS,
    agent_runs,
    git,
    run_record,
    scripted_repo,
    starts,
    write_manifest,
)
from tests.support.run import PE_ROOT, kill_group, pe, pe_cmd, pe_exit, pe_popen, pe_run, wait_for
from tests.support.snapshots import refs, same, snapshot

__all__ = [
    "PE_ROOT",
    "PLAN",
    "SCRIPTED_AGENT",
    "SCRIPTED_COMMAND",
    "TESTS",
    "agent_runs",
    "git",
    "kill_group",
    "pe",
    "pe_cmd",
    "pe_exit",
    "pe_popen",
    "pe_run",
    "refs",
    "run_record",
    "same",
    "scripted_repo",
    "snapshot",
    "starts",
    "wait_for",
    "write_manifest",
]
