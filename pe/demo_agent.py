"""THE DEMO AGENT: a scripted stand-in for a coding agent, used by `pe demo` only.

It does not think: it writes one of four prepared implementations of the demo
plan (wordfreq.top_words), chosen by the tree's strategy, plus its tests,
PROGRESS.md and RESULTS.md, so the whole pe cycle runs offline with no key.
Each shows one side of the contest: simple is correct and slow (list.count per
word), performance correct and fast, innovative fast and wrong on ties (a test
fails). In the tree named by DEMO_AGENT_DIES_IN it dies mid-run (SIGKILL) on its
first attempt, leaving half its work and a PROGRESS.md, and finishes on resume.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

IMPLEMENTATIONS = {
    "simple": '''"""Word frequencies: the simple way."""


def top_words(text: str, n: int) -> list[tuple[str, int]]:
    words = [w.strip(".,;:!?\\"'()") for w in text.lower().split()]
    words = [w for w in words if w]
    # Each distinct word, alphabetically, with its count; a stable sort by count keeps that order for ties.
    counted = [(w, words.count(w)) for w in sorted(set(words))]
    return sorted(counted, key=lambda kv: -kv[1])[:n]
''',
    "performance": '''"""Word frequencies: one regex pass, a C-implemented counter, a partial sort."""

import heapq
import re
from collections import Counter

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")


def top_words(text: str, n: int) -> list[tuple[str, int]]:
    counts = Counter(_WORD.findall(text.lower()))
    # nsmallest on (-count, word) is O(m log n) instead of sorting all m words.
    return [(w, -c) for c, w in heapq.nsmallest(n, ((-c, w) for w, c in counts.items()))]
''',
    "extensible": '''"""Word frequencies with pluggable tokenizers and filters."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

Tokenizer = Callable[[str], Iterable[str]]
Filter = Callable[[str], bool]


def default_tokenizer(text: str) -> Iterable[str]:
    for raw in text.lower().split():
        word = raw.strip(".,;:!?\\"'()")
        if word:
            yield word


@dataclass
class WordCounter:
    tokenizer: Tokenizer = default_tokenizer
    filters: list[Filter] = field(default_factory=list)

    def count(self, text: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for word in self.tokenizer(text):
            if all(f(word) for f in self.filters):
                counts[word] = counts.get(word, 0) + 1
        return counts

    def top(self, text: str, n: int) -> list[tuple[str, int]]:
        return sorted(self.count(text).items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def top_words(text: str, n: int) -> list[tuple[str, int]]:
    return WordCounter().top(text, n)
''',
    "innovative": '''"""Word frequencies that treat Unicode properly: NFKC, casefold, \\\\w+ words."""

import re
import unicodedata
from collections import Counter

_WORD = re.compile(r"\\w+(?:'\\w+)?")


def top_words(text: str, n: int) -> list[tuple[str, int]]:
    norm = unicodedata.normalize("NFKC", text).casefold()
    return Counter(_WORD.findall(norm)).most_common(n)
''',
}

TESTS = '''import unittest

from wordfreq import top_words


class TopWords(unittest.TestCase):
    def test_counts_and_orders(self):
        self.assertEqual(top_words("b a b c b a", 2), [("b", 3), ("a", 2)])

    def test_case_and_punctuation(self):
        self.assertEqual(top_words("The cat. the CAT! A cat?", 1), [("cat", 3)])

    def test_empty(self):
        self.assertEqual(top_words("", 3), [])

    def test_ties_in_alphabetical_order(self):
        self.assertEqual(top_words("pear apple fig apple pear fig", 3), [("apple", 2), ("fig", 2), ("pear", 2)])


if __name__ == "__main__":
    unittest.main()
'''

NOTES = {
    "simple": ("A list of words, list.count for each distinct one, one sort; nothing new to learn.",
               "list.count per distinct word reads the text once per word: O(n*m), fine for a paragraph."),
    "performance": ("One compiled regex pass, collections.Counter, heapq.nsmallest for the top n.",
                    "O(n) counting, O(m log n) selection: made for long texts."),
    "extensible": ("A WordCounter with a pluggable tokenizer and filters (stop words, stemming plug in).",
                   "One function call per word for the filters: slower than the simple version."),
    "innovative": ("Unicode-aware: NFKC normalisation and casefold, \\w+ words with inner apostrophes, "
                   "Counter.most_common for the top n.",
                   "Regex over the whole text; handles non-ASCII text the others split wrongly."),
}


def _die_mid_run(strategy: str) -> None:
    """What a crashed agent leaves: half its work and a PROGRESS.md saying where it was (pe commits both)."""
    Path("PROGRESS.md").write_text(
        "# Progress\n\n## Completed\n\n- [x] top_words\n\n## In Progress\n\ntests\n\n"
        "## Remaining TODOs\n\n- tests\n- RESULTS.md\n\n## Resume Instructions\n\nwrite test_wordfreq.py, "
        f"then RESULTS.md\n\n## Context\n\nstrategy {strategy}\n"
    )
    print("wrote wordfreq.py; now dying mid-run (SIGKILL), as a crashed agent would", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> int:
    strategy = os.environ.get("PE_STRATEGY", "simple")
    tree = os.environ.get("PE_TREE", "?")
    print(f"DEMO AGENT (scripted, not a real coding agent) in {tree}: strategy {strategy}", flush=True)
    if len(sys.argv) > 1:
        print(f"read the prompt: {Path(sys.argv[1]).read_text().splitlines()[0]}", flush=True)
    code = IMPLEMENTATIONS.get(strategy, IMPLEMENTATIONS["simple"])
    approach, perf = NOTES.get(strategy, NOTES["simple"])
    delay = float(os.environ.get("PE_DEMO_DELAY", "0.3"))  # so the parallel run is visible
    time.sleep(delay)
    resuming = os.environ.get("PE_RESUME") == "1"
    if resuming and Path("PROGRESS.md").exists():
        print("resuming: PROGRESS.md says wordfreq.py is written, the tests are next", flush=True)
    Path("wordfreq.py").write_text(code)
    if os.environ.get("DEMO_AGENT_DIES_IN") == tree and not resuming:
        _die_mid_run(strategy)
    Path("test_wordfreq.py").write_text(TESTS)
    Path("PROGRESS.md").write_text(
        "# Progress\n\n## Completed\n\n- [x] top_words\n- [x] tests\n\n## In Progress\n\nnothing\n\n"
        "## Remaining TODOs\n\nnone\n\n## Resume Instructions\n\nnothing to resume\n\n"
        f"## Context\n\nstrategy {strategy}\n"
    )
    Path("RESULTS.md").write_text(
        f"# Results: {tree}\n\n## Approach Summary\n\n{approach}\n\n"
        "## Files Created/Modified\n\n- wordfreq.py\n- test_wordfreq.py\n\n"
        f"## Key Design Decisions\n\nStrategy {strategy}: {approach}\n\n"
        f"## Trade-offs Made\n\n{perf}\n\n## Performance Considerations\n\n{perf}\n\n"
        "## Testing Strategy\n\nunittest: ordering, case and punctuation, empty input.\n"
    )
    print("wrote wordfreq.py, test_wordfreq.py, PROGRESS.md, RESULTS.md", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
