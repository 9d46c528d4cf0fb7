"""Tests of training.registry."""
