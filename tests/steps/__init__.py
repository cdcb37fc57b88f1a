"""Tests of pe/steps."""
