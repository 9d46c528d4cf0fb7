"""Tests of serving.batch."""
