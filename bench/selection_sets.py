# ruff: noqa: E501  (data: each candidate is one module, kept on the lines it is written in)
"""The candidate sets of bench/bench_selection.py: small tasks, each with four implementations.

Every set has a plan, a stub, one weak acceptance test (the project's own test, which every
candidate but the broken one passes) and hidden tests pe never runs, which decide which
candidates are correct. The four candidates, in a shuffled tree order per set:
  correct   concise, with its own tests (which cover the edge case)
  subtle    subtly wrong and the smallest diff, with its own tests (which miss the edge case)
  verbose   correct and long-winded, with its own tests
  broken    fails the weak test
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    label: str
    correct: bool
    code: str  # the module, whole
    tests: str  # the candidate's own test file


@dataclass(frozen=True)
class Set:
    name: str
    func: str
    weak: str  # one assert line of the project's own test
    hidden: tuple[str, ...]  # assert lines pe never sees
    correct: str
    subtle: str
    verbose: str
    broken: str
    own_edge: str  # an assert the correct candidates' tests add (it fails the subtle one)
    own_easy: str  # an assert the subtle candidate's tests add (it passes everywhere)

    def candidates(self) -> list[Candidate]:
        def tests(*lines: str) -> str:
            body = "".join(f"    {line}\n" for line in lines)
            return f"from mod import {self.func}\n\n\ndef test_own():\n{body}"

        return [
            Candidate("correct", True, self.correct, tests(self.weak, self.own_edge)),
            Candidate("subtle", False, self.subtle, tests(self.own_easy)),
            Candidate("verbose", True, self.verbose, tests(self.weak, self.own_edge, self.own_easy)),
            Candidate("broken", False, self.broken, tests(self.own_easy)),
        ]


SETS = (
    Set("median", "median", "assert median([3, 1, 2]) == 2",
        ("assert median([1, 2, 3, 4]) == 2.5", "assert median([5]) == 5", "assert median([4, 1, 3, 2]) == 2.5"),
        "def median(xs):\n    s = sorted(xs)\n    n = len(s)\n    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2\n",
        "def median(xs):\n    return sorted(xs)[len(xs) // 2]\n",
        "def median(xs):\n    values = list(xs)\n    values.sort()\n    count = len(values)\n    middle = count // 2\n"
        "    if count % 2 == 1:\n        result = values[middle]\n    else:\n        low = values[middle - 1]\n"
        "        high = values[middle]\n        result = (low + high) / 2\n    return result\n",
        "def median(xs):\n    return xs[0]\n",
        "assert median([1, 2, 3, 4]) == 2.5", "assert median([9, 7, 8]) == 8"),
    Set("leap", "is_leap", "assert is_leap(2024) and not is_leap(2023)",
        ("assert not is_leap(1900)", "assert is_leap(2000)", "assert not is_leap(2100)"),
        "def is_leap(y):\n    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)\n",
        "def is_leap(y):\n    return y % 4 == 0\n",
        "def is_leap(y):\n    if y % 400 == 0:\n        return True\n    if y % 100 == 0:\n        return False\n"
        "    if y % 4 == 0:\n        return True\n    return False\n",
        "def is_leap(y):\n    return y % 4 == 1\n",
        "assert not is_leap(1900)", "assert is_leap(2028)"),
    Set("chunk", "chunk", "assert chunk([1, 2, 3, 4], 2) == [[1, 2], [3, 4]]",
        ("assert chunk([1, 2, 3], 2) == [[1, 2], [3]]", "assert chunk([], 3) == []", "assert chunk([1], 5) == [[1]]"),
        "def chunk(xs, n):\n    return [xs[i:i + n] for i in range(0, len(xs), n)]\n",
        "def chunk(xs, n):\n    return [xs[i:i + n] for i in range(0, len(xs) - n + 1, n)]\n",
        "def chunk(xs, n):\n    out = []\n    current = []\n    for x in xs:\n        current.append(x)\n"
        "        if len(current) == n:\n            out.append(current)\n            current = []\n"
        "    if current:\n        out.append(current)\n    return out\n",
        "def chunk(xs, n):\n    return [xs]\n",
        "assert chunk([1, 2, 3], 2) == [[1, 2], [3]]", "assert chunk([1, 2, 3, 4, 5, 6], 3) == [[1, 2, 3], [4, 5, 6]]"),
    Set("roman", "roman", "assert roman(3) == 'III' and roman(6) == 'VI'",
        ("assert roman(4) == 'IV'", "assert roman(9) == 'IX'", "assert roman(1994) == 'MCMXCIV'"),
        "def roman(n):\n    out = ''\n    for v, s in ((1000, 'M'), (900, 'CM'), (500, 'D'), (400, 'CD'), (100, 'C'), (90, 'XC'),\n"
        "                 (50, 'L'), (40, 'XL'), (10, 'X'), (9, 'IX'), (5, 'V'), (4, 'IV'), (1, 'I')):\n"
        "        while n >= v:\n            out, n = out + s, n - v\n    return out\n",
        "def roman(n):\n    out = ''\n    for v, s in ((1000, 'M'), (500, 'D'), (100, 'C'), (50, 'L'), (10, 'X'), (5, 'V'), (1, 'I')):\n"
        "        out, n = out + s * (n // v), n % v\n    return out\n",
        "TABLE = [\n    (1000, 'M'),\n    (900, 'CM'),\n    (500, 'D'),\n    (400, 'CD'),\n    (100, 'C'),\n    (90, 'XC'),\n"
        "    (50, 'L'),\n    (40, 'XL'),\n    (10, 'X'),\n    (9, 'IX'),\n    (5, 'V'),\n    (4, 'IV'),\n    (1, 'I'),\n]\n\n\n"
        "def roman(n):\n    parts = []\n    remaining = n\n    for value, symbol in TABLE:\n        count = remaining // value\n"
        "        parts.append(symbol * count)\n        remaining -= count * value\n    return ''.join(parts)\n",
        "def roman(n):\n    return 'I' * n if n < 3 else 'X'\n",
        "assert roman(4) == 'IV'", "assert roman(20) == 'XX'"),
    Set("dedupe", "dedupe", "assert sorted(dedupe([1, 1, 2])) == [1, 2]",
        ("assert dedupe([3, 1, 3, 2, 1]) == [3, 1, 2]", "assert dedupe([]) == []", "assert dedupe(['b', 'a', 'b']) == ['b', 'a']"),
        "def dedupe(xs):\n    return list(dict.fromkeys(xs))\n",
        "def dedupe(xs):\n    return sorted(set(xs))\n",
        "def dedupe(xs):\n    seen = set()\n    out = []\n    for x in xs:\n        if x in seen:\n            continue\n"
        "        seen.add(x)\n        out.append(x)\n    return out\n",
        "def dedupe(xs):\n    return xs\n",
        "assert dedupe([3, 1, 3]) == [3, 1]", "assert dedupe([1, 2, 2, 3]) == [1, 2, 3]"),
    Set("clamp", "clamp", "assert clamp(5, 0, 10) == 5 and clamp(-1, 0, 10) == 0",
        ("assert clamp(11, 0, 10) == 10", "assert clamp(10, 0, 10) == 10", "assert clamp(0, 0, 10) == 0"),
        "def clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n",
        "def clamp(x, lo, hi):\n    return max(lo, x)\n",
        "def clamp(x, lo, hi):\n    if x < lo:\n        return lo\n    if x > hi:\n        return hi\n    return x\n",
        "def clamp(x, lo, hi):\n    return hi\n",
        "assert clamp(11, 0, 10) == 10", "assert clamp(-5, 0, 10) == 0"),
    Set("words", "count_words", "assert count_words('a b a') == {'a': 2, 'b': 1}",
        ("assert count_words('A a') == {'a': 2}", "assert count_words('') == {}", "assert count_words('x  y') == {'x': 1, 'y': 1}"),
        "from collections import Counter\n\n\ndef count_words(text):\n    return dict(Counter(text.lower().split()))\n",
        "def count_words(text):\n    return {w: text.split().count(w) for w in text.split()}\n",
        "def count_words(text):\n    counts = {}\n    for raw in text.split():\n        word = raw.lower()\n"
        "        counts[word] = counts.get(word, 0) + 1\n    return counts\n",
        "def count_words(text):\n    return {}\n",
        "assert count_words('A a') == {'a': 2}", "assert count_words('x y x') == {'x': 2, 'y': 1}"),
    Set("flatten", "flatten", "assert flatten([[1, 2], [3]]) == [1, 2, 3]",
        ("assert flatten([1, [2, [3, [4]]]]) == [1, 2, 3, 4]", "assert flatten([]) == []", "assert flatten([[[]]]) == []"),
        "def flatten(xs):\n    out = []\n    for x in xs:\n        out.extend(flatten(x) if isinstance(x, list) else [x])\n    return out\n",
        "def flatten(xs):\n    return [y for x in xs for y in (x if isinstance(x, list) else [x])]\n",
        "def flatten(xs):\n    result = []\n    stack = [iter(xs)]\n    while stack:\n        for item in stack[-1]:\n"
        "            if isinstance(item, list):\n                stack.append(iter(item))\n                break\n"
        "            result.append(item)\n        else:\n            stack.pop()\n    return result\n",
        "def flatten(xs):\n    return xs\n",
        "assert flatten([1, [2, [3]]]) == [1, 2, 3]", "assert flatten([[1], [2, 3]]) == [1, 2, 3]"),
)
