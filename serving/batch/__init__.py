"""Batch scoring: runs, local and snapshot engines, the scores reader, Spark, campaign."""
