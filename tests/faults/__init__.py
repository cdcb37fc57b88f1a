"""Fault injection: pe killed, interrupted, starved of disk, raced, and agents that misbehave."""
