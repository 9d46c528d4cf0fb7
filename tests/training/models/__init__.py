"""Tests of training.models."""
