"""Generated data shared by the training tests (module-scoped: generation is the slow part)."""

from __future__ import annotations

import pytest

from features.contract.load import load_tables
from features.synthetic import generate


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    """A realistic generated data set of 6000 customers over 2022–2025, loaded."""
    out = tmp_path_factory.mktemp("generated")
    generate(out, customers=6000, seed=5, file_format="parquet")
    return load_tables(out)
