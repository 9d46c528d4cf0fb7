"""Support experience: ticket volume, open tickets, resolution time, SLA, escalations, CSAT.

A ticket's resolution (and the CSAT given with it) is visible only once ``resolved_at``
is before ``as_of``; until then the ticket counts as open.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.families.events import EventView, days_before

HOURS_PER_DAY = 24.0


def support_features(
    tickets: EventView, *, windows: Sequence[int], as_of: pd.Timestamp, sla_hours: float = 48.0
) -> dict[str, np.ndarray]:
    """Ticket features per customer, float64 arrays of shape (n,).

    ``tickets_{w}d`` per window; ``open_tickets`` (opened, not resolved before ``as_of``);
    ``resolution_hours_median_365d`` (tickets opened in the last 365 days and resolved
    before ``as_of``; NaN without any); ``sla_breaches_365d`` (resolved after more than
    ``sla_hours``, or still open for longer than that); ``escalations_365d``;
    ``ticket_csat_mean_365d`` (CSAT 1–5 of tickets resolved before ``as_of``).
    """
    out = {f"tickets_{w}d": tickets.count(tickets.within(w)) for w in windows}
    resolved_age = days_before(tickets.rows["resolved_at"], as_of)
    resolved = resolved_age > 0
    year = tickets.within(365)
    out["open_tickets"] = tickets.count(~resolved)
    hours = np.where(resolved, tickets.age - resolved_age, tickets.age) * HOURS_PER_DAY
    out["resolution_hours_median_365d"] = _median(tickets, hours, resolved & year)
    out["sla_breaches_365d"] = tickets.count(year & (hours > sla_hours))
    out["escalations_365d"] = tickets.count(year & (tickets.column("escalated") == 1))
    out["ticket_csat_mean_365d"] = tickets.mean(tickets.column("csat"), resolved & year)
    return out


def _median(view: EventView, values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = np.full(view.n, np.nan)
    if mask.any():
        med = pd.Series(values[mask]).groupby(view.pos[mask]).median()
        out[med.index.to_numpy()] = med.to_numpy()
    return out
