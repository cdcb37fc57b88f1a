"""Tests of pe/tree."""
