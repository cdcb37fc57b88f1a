"""End-to-end tests of the agent presets against the real CLIs (offline)."""
