"""Data contract, loading and validation, synthetic data, and point-in-time features.

The names below load on first use (PEP 562 ``__getattr__``), so importing a light module
of the package (``features.compute``, ``features.contract.errors``) does not import
pandas and PyArrow: the HTTP service's process manager imports only such modules.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from features.contract.load import load_tables
    from features.contract.tables import Tables
    from features.families.build import (
        CATEGORICAL_FEATURES,
        DEFAULT_WINDOWS,
        build_features,
        build_features_partitioned,
    )

_HOMES = {
    "CATEGORICAL_FEATURES": "features.families.build",
    "DEFAULT_WINDOWS": "features.families.build",
    "Tables": "features.contract.tables",
    "build_features": "features.families.build",
    "build_features_partitioned": "features.families.build",
    "load_tables": "features.contract.load",
}

__all__ = [  # spelled out, not sorted(_HOMES): linters and mkdocstrings read it as text
    "CATEGORICAL_FEATURES",
    "DEFAULT_WINDOWS",
    "Tables",
    "build_features",
    "build_features_partitioned",
    "load_tables",
]


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module 'features' has no attribute {name!r}")
    return getattr(import_module(_HOMES[name]), name)
