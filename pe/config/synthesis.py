"""The manifest's `synthesis:` entries: the trees pe synthesize added, as TreeSpecs like any other.

Each entry (written by pe synthesize, checked in with the manifest) names its base tree, the
commit its branch starts from (the base tree's tip when it was made), and the trees whose
strengths it brings in. The k-th becomes tree <feature>-s<k>, numbered after the originals,
with the base tree's agent (or its own `agent:`), time limit and sandbox, and the "synthesis"
strategy, whose instructions are the brief pe synthesize wrote to .pe/synthesis/<tree>.md:
status, resume, recover, compare, adopt and cleanup then treat it as one more tree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pe.config.spec import AgentSpec, TreeSpec
from pe.config.strategies import Strategy
from pe.errors import ManifestError
from pe.fsutil import read_regular_text
from pe.layout import Layout, synthesis_name

STRATEGY = "synthesis"
INSTRUCTIONS = """\
Synthesis: this tree starts from the work of {base} (its branch's tip), the tree pe compare
recommended. Keep {base}'s design. Bring in, one by one, the strengths the other trees
showed where pe measured them ({sources}): read each one's changes and facts in the brief
below, and take what made it better, not its whole design. Keep every check passing,
including the tests the other trees wrote. In RESULTS.md say, for each part, which tree it
came from and why.
"""
_NO_BRIEF = "(The brief pe synthesize wrote, {path}, is missing: compare the trees' branches yourself.)"


def trees(layout: Layout, entries: Sequence[dict[str, Any]] | None, rel: str, feature: str,
          originals: Sequence[TreeSpec], agent: Callable[[Any, str], AgentSpec | None]) -> list[TreeSpec]:
    """One TreeSpec per `synthesis:` entry (already schema-validated). `agent` parses an agent entry."""
    by_name = {t.name: t for t in originals}
    out = []
    for k, entry in enumerate(entries or [], 1):
        at = f"{rel}: at synthesis[{k - 1}]"
        base = by_name.get(entry["base_tree"])
        if base is None:
            raise ManifestError(f"{at}.base_tree: expected one of {', '.join(by_name)}, got {entry['base_tree']!r}")
        sources = tuple(entry["from"])
        for name in sources:
            if name not in by_name or name == base.name:
                raise ManifestError(f"{at}.from: expected trees of {feature} other than {base.name}, got {name!r}")
        name = synthesis_name(feature, k)
        brief_path = layout.synthesis_brief(name)
        brief = read_regular_text(brief_path) or _NO_BRIEF.format(path=brief_path.relative_to(layout.root))
        prompt = INSTRUCTIONS.format(base=base.name, sources=", ".join(sources)) + "\n" + brief
        spec = agent(entry["agent"], f"{at}.agent") if "agent" in entry else base.agent
        out.append(TreeSpec(feature, len(originals) + k, name, Strategy(STRATEGY, prompt), spec, base.timeout_s,
                            base.sandbox, start=entry["start"], synthesis_of=sources))
    return out
