"""pe compare --judge=PRESET: an agent reads the evidence and writes a narrative recommendation.

The judge is any agent preset, run like a tree's agent (own process group,
time limit, log) in .pe/judge/<feature>/, where it finds evidence.json and the
report. It must write JUDGE.md there, and may write JUDGE.json: a score and a
verdict per tree (pe.compare.verdict reads it as untrusted input). Both go into
the judge's own section of the report; the ranking and the recommendation stay
those of the printed rule, which decides what, if anything, the vote counts for.
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
from pe.compare import verdict
from pe.compare.scoring import Comparison
from pe.compare.verdict import JudgeOutcome
from pe.config.spec import AgentSpec, Feature, TreeSpec
from pe.config.strategies import Strategy
from pe.errors import PeError
from pe.fsutil import read_regular, write_atomic
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
with pe's ranking, if you do.

Also write `{verdict_file}` in this directory, one entry for each of the trees {tree_names}:

```json
{{"trees": {{"<tree name>": {{"score": 7, "verdict": "acceptable", "reason": "One sentence."}}}}}}
```

- `score`: a number from 0 (unusable) to 10 (adopt as is);
- `verdict`: "adopt", "acceptable" or "reject";
- `reason`: one plain sentence, at most 300 characters.

Change nothing else. Exit with status 0 when done.
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


def choose(feature: Feature, preset: str | None, model: str | None) -> AgentSpec | None:
    """The judge to run: --judge=PRESET's (spec_for), else the manifest's `judge:`, else none.

    --judge-model applies to either; a --judge naming the manifest judge's preset keeps its settings.
    """
    configured = feature.judge
    if preset is None:
        if configured is None:
            return None
        return dataclasses.replace(configured, model=model or configured.model)
    if configured is not None and configured.preset == preset:
        return dataclasses.replace(configured, model=model or configured.model)
    return spec_for(feature, preset, model)


def run(layout: Layout, feature: Feature, spec: AgentSpec, report: Path, c: Comparison) -> str:
    """run_outcome's report section alone."""
    return run_outcome(layout, feature, spec, report, c).section


def run_outcome(layout: Layout, feature: Feature, spec: AgentSpec, report: Path, c: Comparison) -> JudgeOutcome:
    """Run the judge on the written report and `c`'s verdict: the report section with its narrative
    and vote (or why there is none), and the vote as read."""
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
    names = [s.tree for s in c.by_index]
    write_atomic(prompt_file, PROMPT.format(judge_file=JUDGE_FILE, verdict_file=verdict.VERDICT_FILE,
                                            tree_names=", ".join(names), **reports.judge_facts(c, layout)))
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
        # A judge that did not finish casts no vote, whatever JUDGE.json it left half-written.
        why = ended.describe() if ended.timed_out else (outcome.reason or ended.describe())
        return JudgeOutcome(f"{title}\n\n_The judge did not finish ({why}); its log: {rel_log}._\n",
                            problems=(f"the judge did not finish ({why})",))
    found, problems = verdict.read(work / verdict.VERDICT_FILE, names)
    table = "\n".join(verdict.render(found, problems, names))
    # Never through a link: the judge can write a symlink to any file it can read (in a sandbox too).
    raw = read_regular(work / JUDGE_FILE)
    if raw is None:
        section = f"{title}\n\n_The judge exited without writing {JUDGE_FILE}; its log: {rel_log}._\n"
    else:
        text = raw.decode("utf-8", errors="replace").strip()
        section = f"{title}\n\n{note}\n\n{text}\n"
    return JudgeOutcome(f"{section}\n{table}", found, tuple(problems))
