"""Shared test helpers: tiny hand-made tables through the real validation path."""

from __future__ import annotations

import pandas as pd
import pytest

from features.load import Tables, validate_tables

AS_OF = pd.Timestamp("2025-06-30", tz="UTC")


def make_tables(**frames: list[dict] | pd.DataFrame) -> Tables:
    """Validate hand-made rows (lists of dicts or frames) into :class:`Tables`."""
    raw = {
        name: rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
        for name, rows in frames.items()
    }
    return validate_tables(raw)


@pytest.fixture
def as_of() -> pd.Timestamp:
    return AS_OF
