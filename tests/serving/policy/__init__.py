"""Tests of serving.policy."""
