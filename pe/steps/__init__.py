"""The work behind each task of the graph: worktree, setup, agent, compare.

Each step is a plain function that is safe to repeat: it first checks
whether its result is already there, because doit's database may be behind
(a kill -9 loses whatever doit had not yet committed).
"""
