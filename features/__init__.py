"""Data contract, loading and validation, synthetic data, and point-in-time features."""

from features.build import (
    CATEGORICAL_FEATURES,
    DEFAULT_WINDOWS,
    build_features,
    build_features_partitioned,
)
from features.load import load_tables
from features.tables import Tables

__all__ = [
    "CATEGORICAL_FEATURES",
    "DEFAULT_WINDOWS",
    "Tables",
    "build_features",
    "build_features_partitioned",
    "load_tables",
]
