"""After the agents: adoption into the base branch, archives, recovery, removal."""
