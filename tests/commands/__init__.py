"""Tests of pe/commands."""
