"""Property tests of the two hard guarantees of the feature code.

(a) No leakage: appending any events at or after ``as_of`` — new orders, tickets, survey
    answers, offers, engagement events, new sign-ups, and later resolutions or
    cancellations — changes no feature. (b) Partition invariance: features of the whole
    base equal the concatenation of the features of any partition of its customers.
"""

from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features import build_features
from tests.conftest import AS_OF, make_tables

N_CUSTOMERS = 6
HOURS = 24 * 500

ids = st.integers(1, N_CUSTOMERS)
past_hours = st.integers(1, HOURS)  # hours before as_of
future_hours = st.integers(0, HOURS)  # hours at or after as_of (0 = exactly at the cutoff)
event_types = st.sampled_from(["session", "login", "email_open", "email_click", "review", "x"])


def at(hours_before: int) -> pd.Timestamp:
    return AS_OF - pd.Timedelta(hours=hours_before)


@st.composite
def histories(draw):
    """Small random tables, every event strictly before AS_OF."""
    customers = [
        {
            "customer_id": i,
            "signup_at": at(draw(st.integers(HOURS, HOURS + 500))),
            "plan": draw(st.sampled_from(["basic", None])),
            "country": draw(st.sampled_from(["DE", "FR", None])),
            "birth_date": draw(st.sampled_from(["1990-07-10", "1984-02-29", None])),
        }
        for i in range(1, N_CUSTOMERS + 1)
    ]
    transactions = [
        {
            "customer_id": c,
            "ordered_at": at(h),
            "amount": (-a if r else a),
            "is_refund": r,
            "discount": d,
            "category": k,
        }
        for c, h, a, r, d, k in draw(
            st.lists(
                st.tuples(
                    ids,
                    past_hours,
                    st.floats(1, 500),
                    st.booleans(),
                    st.floats(0, 20),
                    st.sampled_from(["food", "home", None]),
                ),
                min_size=1,
                max_size=40,
            )
        )
    ]
    events = [
        {"customer_id": c, "occurred_at": at(h), "event_type": k}
        for c, h, k in draw(st.lists(st.tuples(ids, past_hours, event_types), max_size=40))
    ]
    tickets = [
        {
            "customer_id": c,
            "opened_at": at(h),
            "resolved_at": (at(h - r) if r is not None and r < h else None),
            "csat": s,
            "escalated": e,
        }
        for c, h, r, s, e in draw(
            st.lists(
                st.tuples(
                    ids,
                    past_hours,
                    st.one_of(st.none(), st.integers(1, 200)),
                    st.one_of(st.none(), st.integers(1, 5)),
                    st.booleans(),
                ),
                max_size=15,
            )
        )
    ]
    surveys = [
        {"customer_id": c, "answered_at": at(h), "nps": n, "csat": s, "ces": e}
        for c, h, n, s, e in draw(
            st.lists(
                st.tuples(
                    ids,
                    past_hours,
                    st.one_of(st.none(), st.integers(0, 10)),
                    st.one_of(st.none(), st.integers(1, 5)),
                    st.one_of(st.none(), st.integers(1, 7)),
                ),
                max_size=15,
            )
        )
    ]
    offers = [
        {"customer_id": c, "offered_at": at(h), "offer_id": "discount_coupon", "accepted": a}
        for c, h, a in draw(st.lists(st.tuples(ids, past_hours, st.booleans()), max_size=8))
    ]
    return {
        "customers": customers,
        "transactions": transactions,
        "support_tickets": tickets,
        "surveys": surveys,
        "offers": offers,
        "events": events,
    }


@st.composite
def futures(draw, history):
    """The same history plus arbitrary events at or after AS_OF, and later outcomes."""
    later = lambda h: AS_OF + pd.Timedelta(hours=h)  # noqa: E731
    out = {name: [dict(r) for r in rows] for name, rows in history.items()}
    for c in out["customers"]:
        if draw(st.booleans()):
            c["cancelled_at"] = later(draw(future_hours))
    for t in out["support_tickets"]:
        if t["resolved_at"] is None and draw(st.booleans()):
            t["resolved_at"] = later(draw(future_hours))
            t["csat"] = draw(st.integers(1, 5))
    out["customers"].append({"customer_id": 99, "signup_at": later(draw(future_hours))})
    for c, h, a in draw(
        st.lists(
            st.tuples(
                st.sampled_from([*range(1, N_CUSTOMERS + 1), 99]), future_hours, st.floats(1, 500)
            ),
            min_size=1,
            max_size=10,
        )
    ):
        out["transactions"].append(
            {"customer_id": c, "ordered_at": later(h), "amount": a, "is_refund": False}
        )
        out["support_tickets"].append({"customer_id": c, "opened_at": later(h), "escalated": True})
        out["surveys"].append({"customer_id": c, "answered_at": later(h), "nps": 0, "ces": 7})
        out["offers"].append(
            {"customer_id": c, "offered_at": later(h), "offer_id": "vip_upgrade", "accepted": True}
        )
        out["events"].append({"customer_id": c, "occurred_at": later(h), "event_type": "login"})
    return out


EVENT_COLUMNS = ["customer_id", "occurred_at", "event_type"]


def features(frames: dict) -> pd.DataFrame:
    """Features of hand-made rows; ``events`` is supplied even when it has no rows."""
    tables = {k: pd.DataFrame(v) for k, v in frames.items() if v and k != "events"}
    if "events" in frames:
        tables["events"] = pd.DataFrame(frames["events"], columns=EVENT_COLUMNS)
    return build_features(make_tables(**tables), as_of=AS_OF)


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(data=st.data())
def test_events_at_or_after_as_of_change_no_feature(data):
    history = data.draw(histories())
    pd.testing.assert_frame_equal(features(data.draw(futures(history))), features(history))


@SETTINGS
@given(
    history=histories(),
    assignment=st.lists(st.integers(0, 3), min_size=N_CUSTOMERS, max_size=N_CUSTOMERS),
)
def test_features_of_whole_equal_concatenated_partitions(history, assignment):
    whole = features(history)
    group = {i + 1: g for i, g in enumerate(assignment)}
    pieces = []
    for g in sorted(set(assignment)):
        part = {
            name: [r for r in rows if group[r["customer_id"]] == g]
            for name, rows in history.items()
        }
        if part["transactions"]:
            pieces.append(features(part))
        else:  # a partition without any order: build it with a placeholder past order of nobody
            part["transactions"] = [{"customer_id": -1, "ordered_at": at(1), "amount": 1.0}]
            pieces.append(features(part))
    joined = pd.concat(pieces, ignore_index=True).sort_values("customer_id", ignore_index=True)
    pd.testing.assert_frame_equal(joined, whole)
