"""Which commit each feature's trees start from: its `base:` (or the current branch), resolved.

Each distinct ref is asked of git once, side by side: `pe validate` of 50 features made two
sequential git calls per feature (2.3x the time of 10 features, issue 18), though they
almost all start from the same branch.
"""

from __future__ import annotations

from collections.abc import Sequence

from pe import git, util
from pe.config.spec import Feature
from pe.errors import PeError
from pe.layout import Layout

NO_COMMITS = "the repository has no commits yet: commit something for the trees to start from"
_UNSET = object()


class Bases:
    """The bases of one command's features; every git answer kept for the command's length."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self._branch: object = _UNSET
        self._shas: dict[str, str | None] = {}

    def _ref(self, feature: Feature) -> str:
        if feature.base:
            return feature.base
        if self._branch is _UNSET:
            self._branch = git.current_branch(self.layout.root)
        if self._branch is None:
            raise PeError("HEAD is detached: pass --base=REF or set base: in the manifest")
        return str(self._branch)

    def prefetch(self, features: Sequence[Feature]) -> None:
        """Resolve the distinct refs of `features` at once (errors wait for sha())."""
        refs = set()
        for feature in features:
            try:
                refs.add(self._ref(feature))
            except PeError:
                continue
        todo = sorted(refs - self._shas.keys())
        for ref, sha in zip(todo, util.parallel(lambda r: git.resolve_commit(self.layout.root, r), todo), strict=True):
            self._shas[ref] = sha

    def sha(self, feature: Feature) -> str:
        """The commit `feature`'s trees start from; PeError (one line) when there is none."""
        ref = self._ref(feature)
        if ref not in self._shas:
            self._shas[ref] = git.resolve_commit(self.layout.root, ref)
        sha = self._shas[ref]
        if sha is None:
            # The usual case costs one git call per ref; has_commits() only tells the failures apart.
            if not git.has_commits(self.layout.root):
                raise PeError(NO_COMMITS)
            where = feature.source or feature.manifest.relative_to(self.layout.root)
            raise PeError(f"{where}: at base: {ref!r} is not a commit in this repository")
        return sha
