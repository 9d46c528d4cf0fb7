"""Tests of serving.api."""
