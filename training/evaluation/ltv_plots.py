"""Evaluation figures for the LTV model (predicted vs actual per decile).

Built as every evaluation figure is (see :mod:`training.evaluation.plot_base`); the
tables come from :mod:`training.evaluation.ltv_metrics`. Imports matplotlib.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from training.evaluation.plot_base import (
    DECILE_COLUMNS,
    _check_mapping,
    _new_figure,
)

# --------------------------------------------------------------------------- LTV


def ltv_decile_figure(
    tables: Mapping[str, pd.DataFrame], *, unit: str = "currency units"
) -> Figure:
    """Predicted vs actual mean LTV per predicted decile, one panel per model.

    Parameters
    ----------
    tables : mapping of str to DataFrame
        Model name -> output of :func:`training.evaluation.ltv_metrics.decile_table`
        (index = decile, 1 = highest predicted; columns ``mean_predicted`` and ``mean_actual``).
    unit : str, default="currency units"
        Unit of the LTV values, shown on the y axis (e.g. ``"EUR over 365 days"``).

    Returns
    -------
    Figure
        One axes per model, sharing y, each with two bars per decile: mean predicted
        (hatched) and mean actual LTV per customer.

    Raises
    ------
    ValueError
        Empty ``tables``, or a table that is empty or lacks the required columns.
    """
    _check_mapping(tables, "tables", "model name to decile_table() output")
    for name, table in tables.items():
        if not isinstance(table, pd.DataFrame) or table.empty:
            raise ValueError(
                f"tables[{name!r}] must be a non-empty DataFrame from decile_table(); got "
                f"{type(table).__name__}{' (empty)' if isinstance(table, pd.DataFrame) else ''}."
            )
        missing = [c for c in DECILE_COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(
                f"tables[{name!r}] must contain columns {list(DECILE_COLUMNS)}, but "
                f"{missing} were missing (columns: {list(table.columns)})."
            )
    fig = _new_figure(1.0 + 4.8 * len(tables), 4.8)
    axes = fig.subplots(1, len(tables), sharey=True, squeeze=False)[0]
    width = 0.4
    for ax, (name, table) in zip(axes, tables.items(), strict=True):
        position = np.arange(len(table))
        ax.bar(
            position - width / 2,
            table["mean_predicted"],
            width,
            label="mean predicted",
            color="tab:blue",
            alpha=0.55,
            hatch="//",
            edgecolor="tab:blue",
        )
        ax.bar(
            position + width / 2,
            table["mean_actual"],
            width,
            label="mean actual",
            color="tab:orange",
        )
        ax.set_xticks(position, [str(d) for d in table.index])
        ax.set_title(str(name))
        ax.set_xlabel("Predicted decile (1 = highest predicted LTV)")
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].set_ylabel(f"Mean LTV per customer ({unit})")
    axes[0].legend(loc="upper right")
    fig.suptitle("LTV: predicted vs actual mean per predicted decile")
    return fig
