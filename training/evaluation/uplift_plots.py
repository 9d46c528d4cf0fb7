"""Figures of the uplift evaluation (kept apart so nothing else imports matplotlib)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure


def qini_figure(curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]) -> Figure:
    """Qini curves per offer: the uplift ranking (solid) and the churn-risk ranking (dotted).

    Parameters
    ----------
    curves : dict
        ``{offer id: (share targeted, Qini of the uplift score, Qini of churn risk)}``,
        each array of shape (points,), Qini in incremental kept customers per treated row.
    """
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for offer, (share, q_model, q_risk) in curves.items():
        line = ax.plot(share, q_model, label=offer)[0]
        ax.plot(share, q_risk, ls=":", color=line.get_color())
    ax.set_xlabel("share of customers targeted")
    ax.set_ylabel("incremental customers kept per treated customer")
    ax.set_title("Qini, held-out campaigns (solid: uplift; dotted: churn risk)")
    if curves:
        ax.legend(fontsize=7)
    return fig
