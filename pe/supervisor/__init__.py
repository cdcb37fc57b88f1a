"""Who keeps an agent's run going while pe is away, and how pe finds it again.

Each attempt of an agent runs under a supervisor, a small process of pe's in a session
of its own (child.py). It starts the agent (its argv already wrapped in the sandbox),
sends its output to the agent log, enforces the wall-clock and idle timeouts, reaps all
the agent started, and writes how the run ended, atomically, to an end file. It holds
the tree's supervisor lock (flock) from before it exists (pe takes it and hands it over)
until it exits, so "is an agent running in this tree" is one flock away for any pe.

pe waits on the supervisor (handle.py). A pe that was killed, or detached (SIGHUP,
`--detach`), loses nothing: the next one finds the supervisor alive and waits for it
again, or finds its end file and finishes the bookkeeping (checkpoint, stamp, record)
as if it had been there. Only a deliberate stop (SIGINT/SIGTERM to pe, `pe stop`) stops
an agent; a machine crash stops the supervisor too, and resume then starts a new attempt.
"""
