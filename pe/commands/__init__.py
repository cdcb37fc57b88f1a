"""One module per action, each thin: flags -> one domain call -> print.

Each module defines NAME, DESCRIPTION, add_arguments(parser) and run(args) -> int.
ACTIONS is what pe.main offers, in the order `pe --help` shows them, with each action's
one-line help: `pe --help` needs no action module, `pe <action>` imports just its own,
and a file dropped into this folder does not become an action by being there.
"""

ACTIONS: dict[str, str] = {
    "demo": "run the whole cycle offline in a scratch repository (no agent CLI or key needed)",
    "init": "write features/NAME.yaml from the flags and create the N worktrees",
    "execute": "run the N agents in parallel, one per tree, each with its strategy",
    "resume": "continue where a crash stopped: done trees are skipped, the rest resume",
    "wait": "wait for agents that run on without pe (--detach, a killed pe) and finish their bookkeeping",
    "stop": "stop the agents that run under their supervisors (commits what they left; pe resume continues)",
    "recover": "find every tree a crash left behind, classify it, and print the command that fixes it (read-only)",
    "status": "a table of every tree: state, time, commits, changes, completion, cost",
    "compare": "run the checks in every finished tree and write IMPLEMENTATION_COMPARISON.md",
    "synthesize": "one more tree that starts from the recommended one and brings in the others' measured strengths",
    "logs": "show a tree's agent log (--follow to watch it live)",
    "adopt": "bring the winning tree's work into the base branch (--squash, --merge or --rebase)",
    "cleanup": "archive each tree to reports/, then remove its worktree and branch and forget its state",
    "history": "past runs, one row per tree attempt (export FILE / import FILE: pool them across clones)",
    "insights": "what the run history says: completion, eligibility, adoption, survival, cost per strategy and agent",
    "validate": "check features/*.yaml against the schema (exit 3 on the first error)",
    "doit": "run a doit command on pe's task graph (e.g. pe doit list)",
    "cluster": "start or stop a loopback Dask scheduler and workers for --runner=dask",
    "install-command": "install /parallel-executor as a Claude Code slash command",
}


def module_name(action: str) -> str:
    """The module of an action: `install-command` lives in install_command.py."""
    return "pe.commands." + action.replace("-", "_")
