"""Tests of training.monitoring."""
