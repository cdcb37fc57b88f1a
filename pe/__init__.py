"""pe: run N coding agents on one feature in parallel git worktrees, then compare."""

__version__ = "0.1.0"
