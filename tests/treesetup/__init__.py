"""Tests of pe/treesetup."""
