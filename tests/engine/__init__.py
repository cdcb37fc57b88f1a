"""Tests of pe/engine."""
