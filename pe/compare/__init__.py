"""Evidence, then score, then report: how pe judges N implementations."""
