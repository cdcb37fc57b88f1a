"""How pe compare judges (issue 13): measured pros and cons apart from the agent's claims, a pool of
eligible trees for the relative parts, noise bands and a stated tie-break, a tests part that adding
tests cannot raise, and failing tests named."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from pe.compare import report, scoring
from pe.compare.checks import CheckResult, Counts
from pe.compare.deps import Deps
from pe.compare.evidence import TreeEvidence
from pe.compare.scoring import Comparison, Scored
from pe.config.spec import Feature
from pe.gitfacts import Diffstat

WHEN = "2026-01-01T00:00:00+0000"


def feature() -> Feature:
    return Feature("f", Path("features/f.yaml"), "specs/plan.md", "", "main", 3, 1, ())


def check_run(passed: int, failed: int = 0, names: tuple[str, ...] = ()) -> CheckResult:
    return CheckResult("test", "test", "passed" if not failed else "failed", 0 if not failed else 1, 0.5,
                       Counts(passed + failed, passed, failed, source="junit.xml"), None, "", False,
                       ".pe/checks/f-1/test.log", "", failed_tests=names)


def bench(value: float) -> CheckResult:
    return CheckResult("bench", "bench", "passed", 0, value, None, value, "s", False, ".pe/b.log", "")


def tree(i: int, checks: list[CheckResult], lines: int = 10, agent_time_s: float = 10.0,
         results: dict[str, str] | None = None, deps: Deps | None = None) -> TreeEvidence:
    return TreeEvidence(f"f-{i}", i, ("simple", "performance", "innovative")[(i - 1) % 3], "command", None, "done",
                        "", base_sha="a" * 40, checks=checks, stat=Diffstat(1, lines, 0), agent_time_s=agent_time_s,
                        results=results or {}, deps=deps or Deps())


def ranked(*trees: TreeEvidence) -> Comparison:
    return scoring.rank(feature(), list(trees), generated_at=WHEN)


def scored(c: Comparison, name: str) -> Scored:
    return next(s for s in c.trees if s.tree == name)


def approach(text: str, name: str) -> str:
    start = text.index(f"### {name} ")
    end = text.find("\n### ", start + 1)
    return text[start:end if end != -1 else text.index("\n## ", start)]


def block(section: str, title: str) -> str:
    """The list under a bold title (e.g. **Cons**) in one approach's section."""
    start = section.index(f"**{title}")
    end = section.find("\n**", start + 2)
    return section[start:end if end != -1 else None]


# 1. The agent's claims are not pros and cons.

def test_results_md_quotes_are_the_agents_claims_not_pros_or_cons() -> None:
    results = {"Key Design Decisions": "- a heap for the top n", "Trade-offs Made": "- about 2x faster than a full sort"}
    c = ranked(tree(1, [check_run(3)], results=results), tree(2, [check_run(3)], lines=20))
    text = approach(report.render_markdown(c), "f-1")
    pros, cons = block(text, "Pros"), block(text, "Cons")
    assert "2x faster" not in cons and "a heap" not in pros
    assert all(line.startswith("- Measured: ") or "_none measured_" in line
               for line in (pros + cons).splitlines() if line.startswith("- "))
    says = block(text, "The agent says")
    assert "not verified by pe" in says
    assert 'From RESULTS.md (Trade-offs Made): "about 2x faster than a full sort"' in says
    assert 'From RESULTS.md (Key Design Decisions): "a heap for the top n"' in says


# 2. The relative parts compare with eligible trees only.

def test_a_failing_tree_does_not_set_the_size_or_cost_bar() -> None:
    small_but_wrong = tree(2, [check_run(1, 2)], lines=5, agent_time_s=1.0)
    c = ranked(tree(1, [check_run(3)], lines=20, agent_time_s=100.0), small_but_wrong,
               tree(3, [check_run(3)], lines=40, agent_time_s=200.0))
    one, three = scored(c, "f-1"), scored(c, "f-3")
    assert one.parts["size"] == 10.0 and three.parts["size"] == 5.0
    assert one.parts["cost"] == 5.0 and three.parts["cost"] == 2.5
    assert scored(c, "f-2").parts["size"] == 10.0  # smaller than the bar: full marks, never more


def test_a_failing_tree_faster_than_the_bar_is_not_called_noise() -> None:
    c = ranked(tree(1, [check_run(3), bench(1.0)]), tree(2, [check_run(1, 2), bench(0.25)]))
    text = report.render_markdown(c)
    assert "f-2 0.25 (0.25x: better than the best tree that passes every check)" in text


# 3. Noise is not a difference; ties are broken by a stated rule.

def test_identical_work_within_the_noise_ties_and_the_tree_number_decides() -> None:
    # Same diff, same checks: f-2's agent was 8% quicker and its bench 5% faster, which is noise.
    one = tree(1, [check_run(3), bench(1.05)], agent_time_s=10.8)
    two = tree(2, [check_run(3), bench(1.0)], agent_time_s=10.0)
    c = ranked(two, one)
    assert scored(c, "f-1").score == scored(c, "f-2").score == 100.0
    assert [s.tree for s in c.trees] == ["f-1", "f-2"]
    assert c.recommended is not None and c.recommended.tree == "f-1"
    text = report.render_markdown(c)
    assert "Measured: as fast as f-2 on bench within the 10% noise band (1.05s vs 1s)." in block(
        approach(text, "f-1"), "Pros")
    assert "f-2 1 (best), f-1 1.05 (1.05x, within 10%: counted as the best)" in text


def test_sub_second_agent_times_are_noise() -> None:
    # pe demo: the same work in 0.25 s and 0.32 s of agent time scored 5 and 3.9 for cost.
    c = ranked(tree(1, [check_run(3)], agent_time_s=0.32), tree(2, [check_run(3)], agent_time_s=0.25))
    assert scored(c, "f-1").parts["cost"] == scored(c, "f-2").parts["cost"] == 5.0


def test_beyond_the_noise_a_difference_still_counts() -> None:
    c = ranked(tree(1, [check_run(3), bench(1.5)]), tree(2, [check_run(3), bench(1.0)]))
    assert scored(c, "f-1").parts["speed"] < 25.0 == scored(c, "f-2").parts["speed"]


def test_the_noise_band_when_higher_is_better() -> None:
    def rate(value: float) -> CheckResult:
        return replace(bench(value), higher_is_better=True)

    c = ranked(tree(1, [check_run(3), rate(95.0)]), tree(2, [check_run(3), rate(100.0)]))
    assert scored(c, "f-1").parts["speed"] == 25.0  # 1.05x worse: noise
    c = ranked(tree(1, [check_run(3), rate(80.0)]), tree(2, [check_run(3), rate(100.0)]))
    assert scored(c, "f-1").parts["speed"] == 20.0


def test_equal_scores_go_to_fewer_lines_changed() -> None:
    # 1001 lines against 1000: 9.99 against 10 for size, the same score to 0.1.
    c = ranked(tree(1, [check_run(3)], lines=1001), tree(2, [check_run(3)], lines=1000))
    assert scored(c, "f-1").score == scored(c, "f-2").score == 100.0
    assert [s.tree for s in c.trees] == ["f-2", "f-1"]
    assert "within 10% of the best" in c.rule
    assert ("then fewer lines changed, then fewer new dependencies and changed lockfiles, then tree number"
            in " ".join(c.rule.split()))


def test_tie_break_on_dependencies_when_score_and_lines_are_equal() -> None:
    # The dependency part is 0 for both, so scores and lines tie; f-2 adds one dependency, f-1 two.
    two_deps = Deps(added=[("a", "requirements.txt"), ("b", "requirements.txt")])
    one_dep = Deps(added=[("a", "requirements.txt")])
    c = ranked(tree(1, [check_run(3)], deps=two_deps), tree(2, [check_run(3)], deps=one_dep))
    assert scored(c, "f-1").score == scored(c, "f-2").score
    assert [s.tree for s in c.trees] == ["f-2", "f-1"]


# 4. Writing more tests earns nothing.

def test_more_passing_tests_do_not_raise_the_score() -> None:
    c = ranked(tree(1, [check_run(3)]), tree(2, [check_run(50)]))
    assert scored(c, "f-1").parts["tests"] == scored(c, "f-2").parts["tests"] == 10.0


def test_failing_tests_cost_what_they_fail_not_what_others_pass() -> None:
    # f-2 fails two tests and pads with a hundred passing ones; f-1 fails one.
    c = ranked(tree(1, [check_run(2, 1)]), tree(2, [check_run(101, 2)]))
    assert scored(c, "f-1").parts["tests"] == 9.0 and scored(c, "f-2").parts["tests"] == 8.0
    assert "passing tests earn nothing" in c.rule


# 6. Failing tests by name.

def test_failing_tests_are_named_under_the_checks_and_as_a_con() -> None:
    names = tuple(f"test_mathlib.test_{i:02}" for i in range(15))
    c = ranked(tree(1, [check_run(3)]), tree(2, [check_run(1, 15, names)]))
    text = report.render_markdown(c)
    two = approach(text, "f-2")
    checks = block(two, "Checks")
    assert "test_mathlib.test_00" in checks and "test_mathlib.test_09" in checks
    assert "test_mathlib.test_10" not in checks and "and 5 more" in checks
    cons = block(two, "Cons")
    assert "Measured: fails test_mathlib.test_00, test_mathlib.test_01" in cons
    assert "fails test_mathlib" not in block(approach(text, "f-1"), "Cons")
    assert "test_mathlib.test_00" in " ".join(scored(c, "f-2").why_not)
    data = json.loads(report.json_text(c))
    failing = next(t for t in data["trees"] if t["tree"] == "f-2")["checks"][0]["failed_tests"]
    assert failing == list(names)


def test_a_tree_with_no_named_failure_has_no_such_lines() -> None:
    c = ranked(tree(1, [check_run(3)]), replace(tree(2, [check_run(1, 2)]), tree="f-2"))
    two = approach(report.render_markdown(c), "f-2")
    assert "fails test" not in two and "Measured: check test FAILED" in two


def test_a_tie_is_explained_where_the_recommendation_is() -> None:
    c = ranked(tree(1, [check_run(3)], lines=1001), tree(2, [check_run(3)], lines=1000))
    assert c.tie_break == "f-2 and f-1 tie on score (100.0); f-2 ranks first by fewer lines changed (1000 against 1001)"
    text = report.render_markdown(c)
    assert c.tie_break in text and "- f-1 (simple): the same score (100.0), ranked below by the tie-breaks." in text
    assert report.evidence_json(c)["tie_break"] == c.tie_break
    assert c.tie_break in report.summary_lines(c, Path("/r/x.md"), Path("/r"))
    assert ranked(tree(1, [check_run(3)]), tree(2, [check_run(3)], lines=50)).tie_break is None


# The judge's vote (judge_weight) moves scores, never eligibility.

def test_the_judges_vote_moves_scores_within_100_and_never_makes_a_failing_tree_eligible() -> None:
    from pe.compare.verdict import Verdict

    failing, good, other = tree(1, [check_run(3, 1)]), tree(2, [check_run(3)]), tree(3, [check_run(3)])
    votes = {"f-1": Verdict("f-1", 10, "adopt", "best"), "f-2": Verdict("f-2", 0, "reject", "no"),
             "f-3": Verdict("f-3", 10, "adopt", "yes")}
    c = scoring.rank(feature(), [failing, good, other], verdicts=votes, judge_weight=20,
                     generated_at="2026-01-01T00:00:00+0000")
    assert not scored(c, "f-1").eligible and c.recommended is not None and c.recommended.tree == "f-3"
    assert scored(c, "f-3").score == 100.0 and scored(c, "f-2").score == 80.0  # 80 measured + 20 or 0
    assert scored(c, "f-2").parts["judge"] == 0.0 and "Judge: with judge_weight 20" in c.rule
    # Without weight, the vote is a narrative only: the same scores as without a judge.
    plain = scoring.rank(feature(), [failing, good, other], verdicts=votes, judge_weight=0)
    assert scored(plain, "f-2").score == scored(plain, "f-3").score == 100.0 and "judge" not in scored(plain, "f-2").parts
