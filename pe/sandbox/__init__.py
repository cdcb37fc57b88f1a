"""The sandbox every process that runs a tree's code starts in: bubblewrap on Linux."""

from pe.sandbox.bwrap import probe, resolve, wrap
from pe.sandbox.policy import Policy

__all__ = ["Policy", "probe", "resolve", "wrap"]
