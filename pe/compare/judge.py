"""pe compare --judge=PRESET: an agent reads the evidence and writes a narrative recommendation.

The judge is any agent preset, run like a tree's agent (own process group,
time limit, log) in .pe/judge/<feature>/, where it finds evidence.json and the
report. It must write JUDGE.md there. Its text goes into its own section of
the report; the ranking and the recommendation stay those of the printed rule.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Mapping
from pathlib import Path

from pe import agents, sandbox
from pe.agents import launch
from pe.agents.base import RunContext
from pe.compare import report as reports
from pe.compare.scoring import Comparison
from pe.config.spec import AgentSpec, Feature, TreeSpec
from pe.config.strategies import Strategy
from pe.errors import PeError
from pe.fsutil import write_atomic
from pe.layout import Layout
from pe.sandbox import tree as confined

JUDGE_FILE = "JUDGE.md"
DEFAULT_TIMEOUT_S = 900.0

PROMPT = """\
# Judge the implementations of `{feature}`

{count} coding agents implemented the same plan in separate git worktrees, each
with its own strategy. pe measured each one. Your job: read the evidence and
write a short narrative recommendation for a human reviewer.

Read, in this directory:
- `IMPLEMENTATION_COMPARISON.md`: pe's report (metrics, pros and cons, ranking, scoring rule);
- `evidence.json`: the raw evidence (checks with logs, diffs, dependencies, agent usage, RESULTS.md).
The trees themselves, read-only for you: {trees}.

By pe's rule the recommended tree is: {recommended}.
A tree whose checks failed must not be recommended without saying so plainly.

Write `{judge_file}` in this directory: at most 400 words, Markdown, no top-level heading.
Say which tree you would adopt and why, citing the evidence; say where you disagree
with pe's ranking, if you do. Change nothing else. Exit with status 0 when done.
"""


def spec_for(feature: Feature, preset: str, model: str | None) -> AgentSpec:
    """The judge's agent: the manifest's own settings when it uses the same preset."""
    agents.get(preset)  # a one-line error for an unknown preset
    for tree in feature.trees:
        if tree.agent is not None and tree.agent.preset == preset:
            return dataclasses.replace(tree.agent, model=model or tree.agent.model)
    if preset == "command":
        raise PeError("--judge=command needs the manifest's agent to be a command agent (its command is reused)")
    return AgentSpec(preset, model=model)


def run(layout: Layout, feature: Feature, spec: AgentSpec, report: Path, c: Comparison) -> str:
    """Run the judge on the written report and `c`'s verdict; the report section with its narrative, or why none."""
    title = f"## Judge's narrative ({spec.preset}{', ' + spec.model if spec.model else ''})"
    note = ("_Written by an agent that read the evidence. It is an opinion: the recommendation above "
            "follows the printed scoring rule._")
    work = layout.judge(feature.name)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shutil.copy2(report, work / report.name)
    evidence = layout.evidence(feature.name)
    shutil.copy2(evidence, work / evidence.name)
    prompt_file = work / "PROMPT.md"
    write_atomic(prompt_file, PROMPT.format(judge_file=JUDGE_FILE, **reports.judge_facts(c, layout)))
    tree = TreeSpec(feature.name, 0, f"{feature.name}-judge", Strategy("judge", "Judge the implementations."),
                    spec, spec.timeout_s or DEFAULT_TIMEOUT_S)
    log_path = work / "judge.log"
    # (a fresh log: the preset reads the run's output from offset 0)
    ctx = RunContext(root=layout.root, tree=tree, tree_dir=work, prompt_file=prompt_file, plan=feature.plan,
                     context="", log_path=log_path, resume=False, session_id=None)
    preset = agents.get(spec.preset)
    preset.check_available(spec, layout.root)
    confine = None
    if sandbox.resolve(feature.sandbox.mode) == "bwrap":
        # The judge reads what the agents wrote (and may run it): it may write its own dir only.
        def confine(argv: list[str], env: Mapping[str, str]) -> list[str]:
            return sandbox.wrap(argv, confined.for_dir(layout, work, feature.sandbox, env, preset.state_paths(ctx)))

    ended, outcome = launch.run_once(preset, ctx, timeout=tree.timeout_s, confine=confine)
    rel_log = log_path.relative_to(layout.root)
    if ended.timed_out or not outcome.ok:
        why = ended.describe() if ended.timed_out else (outcome.reason or ended.describe())
        return f"{title}\n\n_The judge did not finish ({why}); its log: {rel_log}._\n"
    try:
        text = (work / JUDGE_FILE).read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return f"{title}\n\n_The judge exited without writing {JUDGE_FILE}; its log: {rel_log}._\n"
    return f"{title}\n\n{note}\n\n{text}\n"
