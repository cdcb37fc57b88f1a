"""pe synthesize: fold the measured strengths of the other trees into the recommended one, as a new tree.

plan() checks that a synthesis makes sense now: a comparison exists, no tree's branch moved since
it (what the brief says must be what the trees are), and at least two trees are eligible. It
then writes the brief (.pe/synthesis/<tree>.md): the plan, the comparison report, and per
source tree its change against the base, its RESULTS.md (the agent's own words), and the facts
pe measured where it beat the base tree (a faster bench, tests of its that the base tree fails,
fewer dependencies, a smaller change). add() records the synthesis in the manifest's
`synthesis:` (pe.config.synthesis makes it tree <feature>-s<k>, started from the base tree's
tip), so every command treats it as one more tree, and a kill -9 resumes it like any other.
Whether it is recommended is compare's to say (pe.compare.scoring's synthesis rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pe import gitfacts
from pe.config import edit, manifest
from pe.config.spec import AgentSpec, Feature, TreeSpec
from pe.errors import PeError
from pe.fsutil import read_json, read_regular_text, write_atomic
from pe.layout import Layout, synthesis_name

_DIFF_MAX = 60_000  # characters of one tree's diff in the brief: enough to read, not a flood
_REPORT_MAX = 40_000
_RESULTS = ("Approach Summary", "Key Design Decisions", "Trade-offs Made", "Performance Considerations")


@dataclass(frozen=True)
class Synthesis:
    """What pe synthesize is about to make."""

    tree: str  # <feature>-s<k>
    base: str  # the tree whose design it keeps
    start: str  # that tree's branch tip
    sources: tuple[str, ...]
    agent: AgentSpec | None  # None: the base tree's
    brief: Path


def _evidence(layout: Layout, feature: Feature) -> dict[str, Any]:
    ev = read_json(layout.evidence(feature.name))
    if not isinstance(ev, dict) or not isinstance(ev.get("trees"), list):
        raise PeError(f"no comparison of {feature.name} yet: run pe compare --feature={feature.name} first")
    return ev


def _current(layout: Layout, feature: Feature, ev: dict[str, Any]) -> None:
    """The comparison still describes the trees: every judged tree's branch is where it was judged."""
    judged = {t.get("tree"): t for t in ev["trees"] if isinstance(t, dict)}
    for tree in feature.trees:
        entry = judged.get(tree.name)
        tip = gitfacts.branch_tip(layout.root, tree.name)
        if entry is None and tip is not None:
            raise PeError(f"the comparison is out of date: it does not include {tree.name}; "
                          f"run pe compare --feature={feature.name} again")
        if entry is not None and entry.get("head") and tip != entry["head"]:
            raise PeError(f"the comparison is out of date: {tree.name}'s branch moved since it was judged "
                          f"({str(entry['head'])[:12]} -> {(tip or 'gone')[:12]}); run pe compare "
                          f"--feature={feature.name} again")


def _agent(feature: Feature, preset: str | None) -> AgentSpec | None:
    if preset is None:
        return None
    from pe import agents

    agents.get(preset)  # a one-line error for an unknown preset
    same = next((t.agent for t in feature.trees if t.agent is not None and t.agent.preset == preset), None)
    if same is not None:
        return same
    if preset == "command":
        raise PeError("--agent=command needs the manifest's agent to be a command agent (its command is reused)")
    return AgentSpec(preset)


def plan(layout: Layout, feature: Feature, *, base: str | None, sources: list[str] | None,
         agent: str | None) -> Synthesis:
    """What to synthesize, checked; a one-line PeError when it cannot be done now."""
    ev = _evidence(layout, feature)
    _current(layout, feature, ev)
    originals = {t.name: t for t in feature.trees if not t.is_synthesis}
    eligible = [t["tree"] for t in ev["trees"] if t.get("eligible") and t.get("tree") in originals]
    if len(eligible) < 2:
        raise PeError(f"a synthesis needs at least two eligible trees; the last comparison has {len(eligible)}"
                      + (f" ({eligible[0]})" if eligible else ""))
    chosen = base or ev.get("recommended")
    if not isinstance(chosen, str) or chosen not in eligible:
        raise PeError(f"--base-tree: expected an eligible tree ({', '.join(eligible)}), got {chosen!r}")
    picked = sources or [t for t in eligible if t != chosen]
    for name in picked:
        if name not in originals or name == chosen:
            raise PeError(f"--from: expected trees of {feature.name} other than {chosen}, got {name!r}")
    start = gitfacts.branch_tip(layout.root, chosen)
    if start is None:
        raise PeError(f"{chosen} has no branch to start from")
    k = 1 + sum(t.is_synthesis for t in feature.trees)
    name = synthesis_name(feature.name, k)
    return Synthesis(name, chosen, start, tuple(picked), _agent(feature, agent), layout.synthesis_brief(name))


def _text(s: str) -> str:
    """git's output (surrogates where a byte was not UTF-8) as text that can be written."""
    return s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n[... {len(text) - limit} more characters cut]\n"


def _beats(ev: dict[str, Any], src: dict[str, Any], base: dict[str, Any]) -> list[str]:
    """What pe measured where `src` did better than `base` (its evidence.json entries)."""
    out = []
    bench = {c["name"]: c for c in base.get("checks", []) if c.get("kind") == "bench" and c.get("status") == "passed"}
    for c in src.get("checks", []):
        mine, theirs = c.get("metric") or c.get("duration_s"), bench.get(c.get("name"), {})
        other = theirs.get("metric") or theirs.get("duration_s")
        if c.get("kind") == "bench" and c.get("status") == "passed" and mine and other:
            better = (mine > other) if c.get("higher_is_better") else (mine < other)
            if better:
                out.append(f"bench {c['name']}: {mine:g}{c.get('unit', '')} against {base['tree']}'s "
                           f"{other:g}{theirs.get('unit', '')}")
    for cell in (ev.get("cross_tests") or {}).get("cells", []):
        if cell.get("source") == src["tree"] and cell.get("target") == base["tree"] and cell.get("status") == "failed":
            names = ", ".join(cell.get("failed_tests", [])[:5]) or "its tests"
            out.append(f"{base['tree']} fails its tests (cross-tests): {names}")
    if len(src.get("new_dependencies") or []) < len(base.get("new_dependencies") or []):
        out.append(f"fewer new dependencies: {len(src.get('new_dependencies') or [])} against "
                   f"{len(base.get('new_dependencies') or [])}")
    lines = (src.get("insertions") or 0) + (src.get("deletions") or 0)
    base_lines = (base.get("insertions") or 0) + (base.get("deletions") or 0)
    if lines and base_lines and lines < base_lines:
        out.append(f"a smaller change: {lines} lines against {base_lines}")
    return out


def write_brief(layout: Layout, feature: Feature, s: Synthesis) -> str:
    """The brief's text, written to s.brief."""
    ev = _evidence(layout, feature)
    by = {t.get("tree"): t for t in ev["trees"] if isinstance(t, dict)}
    report = read_regular_text(layout.reports(feature.name) / "IMPLEMENTATION_COMPARISON.md")
    out = [f"# Synthesis brief: {s.tree}", "",
           f"Base tree: {s.base} (its branch tip {s.start[:12]}, where this tree starts). "
           f"Strengths to bring in from: {', '.join(s.sources)}.", "",
           "## The plan", "", feature.plan_text.strip(), "",
           "## The comparison (pe compare's report)", "", _cut(report.strip(), _REPORT_MAX), ""]
    for name in s.sources:
        src = by.get(name, {})
        out += [f"## {name} ({src.get('strategy', '?')})", ""]
        facts = _beats(ev, src, by.get(s.base, {"tree": s.base}))
        out += ["Measured by pe where it did better than the base tree:", "",
                *([f"- {f}" for f in facts] or ["- nothing measured; read its change for ideas"]), ""]
        results = src.get("results") or {}
        said = [(k, v) for k, v in results.items() if k in _RESULTS and v]
        if said:
            out += ["Its RESULTS.md (the agent's own words, not verified by pe):", ""]
            out += [f"### {k}\n\n{_cut(str(v).strip(), 3000)}\n" for k, v in said]
        base_sha, head = src.get("base_sha"), src.get("head")
        if base_sha and head:
            diff = gitfacts.read(layout.root, "diff", "--no-color", "--no-ext-diff", base_sha, head, "--", ".",
                                 ":(top,exclude)RESULTS.md", ":(top,exclude)PROGRESS.md", check=False).stdout
            out += [f"Its change against the base (git diff {base_sha[:12]} {head[:12]}):", "", "```diff",
                    _cut(_text(diff), _DIFF_MAX).rstrip(), "```", ""]
    text = "\n".join(out)
    write_atomic(s.brief, text)
    return text


def add(layout: Layout, feature: Feature, s: Synthesis) -> Feature:
    """Record `s` in the manifest's `synthesis:` (the caller holds the repository lock); the feature reloaded."""
    data = manifest.read_manifest(layout, feature.name)
    entry: dict[str, Any] = {"base_tree": s.base, "start": s.start, "from": list(s.sources)}
    if s.agent is not None:
        entry["agent"] = {k: v for k, v in {"preset": s.agent.preset, "model": s.agent.model,
                                             "command": list(s.agent.command) if s.agent.command else None}.items()
                          if v}
    data["synthesis"] = [*(data.get("synthesis") or []), entry]
    # Resolved before it is written: a manifest pe cannot load again must never replace the user's.
    manifest.resolve(layout, data, f"features/{feature.name}.yaml", manifest_name=feature.name)
    edit.write(layout, data)  # the user's comments kept
    return manifest.load(layout, feature.name)


def tree_of(feature: Feature, name: str) -> TreeSpec:
    return next(t for t in feature.trees if t.name == name)
