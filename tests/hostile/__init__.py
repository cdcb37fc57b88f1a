"""Hostile input: every way a command line, a manifest or a repository can be wrong."""
