"""Tests of pe/config."""
