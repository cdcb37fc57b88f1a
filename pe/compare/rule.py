"""The scoring rule pe compare applies, as printed text and as the constants pe.compare.scoring uses.

Its own module, importing nothing of pe: the agent's prompt (pe.steps.prompt) prints the rule too,
so an agent knows how it will be judged, without pulling in compare's machinery.
"""

from __future__ import annotations

WEIGHTS = {"checks": 40.0, "tests": 10.0, "speed": 25.0, "size": 10.0, "deps": 10.0, "cost": 5.0}

# A measured time or cost this close to the best is the best: one run of a benchmark or an agent
# varies by more than a few percent, so a smaller difference says nothing about the tree.
NOISE = 0.10
# Agent time also has a floor: seconds of start-up and scheduling are noise at any scale.
AGENT_TIME_NOISE_S = 5.0
# Each failing or erroring test costs this much of the tests part; passing tests earn nothing.
TEST_FAILURE_COST = 1.0

SCORING_RULE = f"""\
Eligibility: a tree can be recommended only if its agent finished (state done),
every check passed (exit status 0 within its time limit, and no failed or
erroring test where counts were read), and it fails no agreed cross-test (below).
Score, 0-100, for every finished tree. The relative parts (speed, size, cost) compare
a tree with the best eligible tree (with the best finished tree when none is eligible):
a tree that fails its checks never sets the bar.
  40  checks: the share of checks that passed
  10  tests: 10 minus {TEST_FAILURE_COST:g} per failing or erroring test (its own checks' and the
      credible cross-tests'), at least 0 (full marks when no counts were read);
      passing tests earn nothing, so adding tests cannot raise a score
  25  speed: over the bench checks, the mean of best / own (metric, else duration; lower is
      better unless higher_is_better); full marks when there is no bench check
  10  size: the smallest diff (lines added + removed, RESULTS.md and PROGRESS.md not counted) / own diff
  10  dependencies: 10 when the tree adds no dependency and changes no lockfile, else 0
   5  agent cost: cheapest / own, summed over all the tree's runs (USD when every finished tree
      reports it for every run, else agent time)
Noise: a bench figure, cost or agent time within {NOISE:.0%} of the best (agent time: or within
{AGENT_TIME_NOISE_S:g} s of it) counts as the best, so one run's noise does not decide between trees.
Cross-tests: the test files each tree adds or changes are run, with the test checks,
against every other tree that passes its own checks. Only the tests of a tree that
passes its own checks are credible (and tests written from the plan, with --plan-tests).
A source's tests are agreed when more of those trees pass them than fail them, their
author counted as passing (the plan counts as the author of tests written from it).
A tree that fails agreed tests is not eligible. On a tie
(two trees, one against one) a one-sided disagreement decides: a tree that fails a
peer's tests while that peer passes the tests it wrote (or it wrote none) is not
eligible; when each fails the other's, both stay eligible.
Ranking: eligible trees first, then by score (to 0.1), then fewer lines changed, then fewer
new dependencies and changed lockfiles, then tree number.
The recommendation is the first eligible tree; when no tree is eligible, none is recommended.
A synthesis tree (pe synthesize) is recommended only if it is eligible and scores above
every original; otherwise the best original is."""


def judge_rule(weight: float) -> str:
    """The rule's line for the judge's vote, when the manifest gives it weight (judge_weight)."""
    return (f"\nJudge: with judge_weight {weight:g}, the parts above are scaled to {100 - weight:g} points and the\n"
            f"judge's score s (0-10, from its JUDGE.json) adds {weight:g} * s / 10; a tree it gave no\n"
            "score gets 0 of those. The vote never changes which trees are eligible.")
