"""Tests of serving.report."""
