"""Tests of pe/lifecycle."""
