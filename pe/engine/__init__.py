"""doit, embedded: the task graph, the runner, its database, the reporter and the live view."""
