"""Tests of training.evaluation."""
