"""Data contract, loading and validation, synthetic data, and point-in-time features."""

from features.contract.load import load_tables
from features.contract.tables import Tables
from features.families.build import (
    CATEGORICAL_FEATURES,
    DEFAULT_WINDOWS,
    build_features,
    build_features_partitioned,
)

__all__ = [
    "CATEGORICAL_FEATURES",
    "DEFAULT_WINDOWS",
    "Tables",
    "build_features",
    "build_features_partitioned",
    "load_tables",
]
