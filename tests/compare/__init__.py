"""Tests of pe/compare."""
