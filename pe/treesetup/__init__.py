"""Tree setup: files carried over, env, ports, dependency install, build gate."""
