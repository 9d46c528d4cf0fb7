"""Point-in-time event views: the visibility rule and the per-customer reductions.

One hand-written table of events for three customers (10 and 20 with events, 30 with
none), deliberately out of order, with events at, after and a microsecond before the
cutoff, an event of a customer outside the index and a NaN amount.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.contract.errors import ChurnError
from features.families.events import (
    EventView,
    as_utc,
    days_before,
    known_before,
    parse_as_of,
    ratio,
    visible_events,
)

AS_OF = pd.Timestamp("2025-06-30", tz="UTC")
NAN = np.nan
MICROSECOND_DAYS = 1e-6 / 86_400
INDEX = pd.Index([10, 20, 30], name="customer_id")


def days(n: float) -> pd.Timestamp:
    return AS_OF - pd.Timedelta(days=n)


@pytest.fixture
def events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [20, 10, 10, 10, 99, 20, 10, 20, 30],
            "ordered_at": pd.Series(
                [
                    days(10),
                    days(40),
                    AS_OF,  # at the cutoff: not visible
                    days(5),
                    days(1),  # customer 99 is not in the index
                    AS_OF + pd.Timedelta(days=1),  # after the cutoff
                    days(100),
                    AS_OF - pd.Timedelta(microseconds=1),
                    pd.NaT,  # undated: never visible
                ],
                dtype="datetime64[ns, UTC]",
            ),
            "amount": [5.0, 10.0, 999.0, NAN, 7.0, 888.0, 2.0, 3.0, 1.0],
            "flag": pd.array([True, False, True, pd.NA, True, True, True, False, True]),
        }
    )


@pytest.fixture
def view(events) -> EventView:
    return visible_events(events, "ordered_at", index=INDEX, as_of=AS_OF)


class TestAsUtc:
    def test_naive_text_is_taken_as_utc(self):
        stamp = as_utc("2025-06-30 12:00")
        assert stamp == pd.Timestamp("2025-06-30 12:00", tz="UTC")
        assert str(stamp.tz) == "UTC"

    def test_naive_timestamp_is_taken_as_utc(self):
        assert as_utc(pd.Timestamp("2025-06-30")) == pd.Timestamp("2025-06-30", tz="UTC")

    def test_aware_input_is_converted_not_relabelled(self):
        stamp = as_utc("2025-06-30T02:00:00+02:00")
        assert str(stamp.tz) == "UTC"
        assert stamp.hour == 0 and stamp.day == 30
        eastern = pd.Timestamp("2025-06-29 20:00", tz="America/New_York")
        assert as_utc(eastern) == pd.Timestamp("2025-06-30 00:00", tz="UTC")
        assert str(as_utc(eastern).tz) == "UTC"


class TestParseAsOf:
    """Complements tests/churn/test_options.py (accepted forms, time-of-day refusal)."""

    def test_returns_utc_midnight_in_nanoseconds(self):
        stamp = parse_as_of("2025-06-30")
        assert stamp == AS_OF and str(stamp.tz) == "UTC" and stamp.unit == "ns"

    def test_message_names_the_given_option_and_value(self):
        with pytest.raises(ChurnError, match=r"Invalid cutoff 'tomorrow': expected a date"):
            parse_as_of("tomorrow", name="cutoff")

    def test_out_of_range_date_names_the_supported_years(self):
        with pytest.raises(ChurnError, match=r"Invalid --as-of '2300-01-01'.*1678 and 2261"):
            parse_as_of("2300-01-01")

    def test_a_time_of_day_suggests_both_surrounding_days(self):
        with pytest.raises(ChurnError, match="whole UTC day") as err:
            parse_as_of("2025-06-30T23:30:00Z", name="as_of")
        assert "Invalid as_of" in str(err.value)
        assert "2025-06-30 23:30:00 UTC" in str(err.value)
        assert "2025-07-01 at 2025-07-01 00:00 UTC" in str(err.value)


class TestDaysBefore:
    def test_units_are_days_as_float(self):
        stamps = pd.Series([days(1.5), days(365)])
        out = days_before(stamps, AS_OF)
        assert out.dtype == np.float64
        np.testing.assert_allclose(out, [1.5, 365.0])

    def test_exactly_at_as_of_is_zero_and_later_is_negative(self):
        out = days_before(pd.Series([AS_OF, AS_OF + pd.Timedelta(hours=12)]), AS_OF)
        np.testing.assert_array_equal(out, [0.0, -0.5])

    @pytest.mark.parametrize("before", ["1us", "1ns", "100ns"])
    def test_an_instant_before_as_of_is_in_the_past(self, before):
        """Strictly before is positive, however close (float rounding must not reach 0)."""
        for cutoff in (AS_OF, pd.Timestamp("2025-06-30 13:17:42.123456789", tz="UTC")):
            out = days_before(pd.Series([cutoff - pd.Timedelta(before)]), cutoff)
            assert out[0] > 0, (before, cutoff)

    def test_a_microsecond_is_a_microsecond_of_a_day(self):
        out = days_before(pd.Series([AS_OF - pd.Timedelta(microseconds=1)]), AS_OF)
        assert out[0] == pytest.approx(MICROSECOND_DAYS, rel=1e-3)

    def test_missing_timestamps_are_nan(self):
        out = days_before(pd.Series([days(2), pd.NaT], dtype="datetime64[ns, UTC]"), AS_OF)
        assert out[0] == 2.0 and np.isnan(out[1])

    def test_other_zones_and_units_give_the_same_days(self):
        utc = pd.Series([days(3.25)])
        eastern = utc.dt.tz_convert("America/New_York")
        micro = utc.dt.as_unit("us")
        for stamps in (eastern, micro):
            np.testing.assert_array_equal(days_before(stamps, AS_OF), [3.25])


class TestKnownBefore:
    def test_strictly_before_as_of_however_close(self):
        stamps = pd.Series(
            [
                days(3),
                AS_OF - pd.Timedelta("1us"),
                AS_OF - pd.Timedelta("1ns"),
                AS_OF,
                AS_OF + pd.Timedelta("1ns"),
                pd.NaT,
            ],
            dtype="datetime64[ns, UTC]",
        )
        known = known_before(stamps, AS_OF)
        assert known.dtype == np.bool_
        assert known.tolist() == [True, True, True, False, False, False]

    def test_is_the_rule_visible_events_applies(self, events):
        view = visible_events(events, "ordered_at", index=INDEX, as_of=AS_OF)
        in_index = events["customer_id"].isin(INDEX).to_numpy()
        assert int((known_before(events["ordered_at"], AS_OF) & in_index).sum()) == len(view.rows)


class TestVisibleEvents:
    def test_only_events_strictly_before_as_of_of_known_customers(self, view):
        assert sorted(view.rows["amount"].dropna()) == [2.0, 3.0, 5.0, 10.0]
        assert len(view.rows) == 5
        assert not {999.0, 888.0, 7.0, 1.0} & set(view.rows["amount"])
        assert (view.age > 0).all()

    def test_sorted_by_customer_position_then_time(self, view):
        np.testing.assert_array_equal(view.pos, [0, 0, 0, 1, 1])
        np.testing.assert_allclose(view.age, [100, 40, 5, 10, MICROSECOND_DAYS], rtol=1e-3)
        np.testing.assert_array_equal(view.rows["amount"], [2.0, 10.0, NAN, 5.0, 3.0])
        assert view.pos.dtype == np.int64 and view.n == 3
        assert view.rows.index.equals(pd.RangeIndex(5))

    def test_rows_in_order_are_kept_as_they_are(self):
        frame = pd.DataFrame(
            {
                "customer_id": [10, 10, 20],
                "ordered_at": [days(9), days(3), days(1)],
                "amount": [1.0, 2.0, 3.0],
            }
        )
        view = visible_events(frame, "ordered_at", index=INDEX, as_of=AS_OF)
        pd.testing.assert_frame_equal(view.rows, frame)

    def test_same_time_events_keep_their_file_order(self):
        frame = pd.DataFrame(
            {
                "customer_id": [20, 10, 10, 10],
                "ordered_at": [days(9), days(3), days(3), days(8)],
                "amount": [1.0, 2.0, 3.0, 4.0],
            }
        )
        view = visible_events(frame, "ordered_at", index=INDEX, as_of=AS_OF)
        assert view.rows["amount"].tolist() == [4.0, 2.0, 3.0, 1.0]

    def test_columns_gathers_only_those(self, events):
        view = visible_events(events, "ordered_at", index=INDEX, as_of=AS_OF, columns=["amount"])
        assert list(view.rows.columns) == ["amount"]
        np.testing.assert_array_equal(view.rows["amount"], [2.0, 10.0, NAN, 5.0, 3.0])

    def test_positions_follow_the_index_order(self, events):
        view = visible_events(
            events, "ordered_at", index=pd.Index([30, 20, 10]), as_of=AS_OF, columns=["amount"]
        )
        np.testing.assert_array_equal(view.pos, [1, 1, 2, 2, 2])
        np.testing.assert_array_equal(view.count(), [0.0, 2.0, 3.0])

    def test_nothing_visible(self, events):
        view = visible_events(events, "ordered_at", index=INDEX, as_of=days(1000))
        assert len(view.rows) == 0 and view.n == 3
        np.testing.assert_array_equal(view.count(), [0.0, 0.0, 0.0])
        assert np.isnan(view.last(view.age)).all() and np.isnan(view.max_age()).all()


class TestEventView:
    def test_within_is_the_window_up_to_and_including_its_start(self, view):
        np.testing.assert_array_equal(view.within(40), [False, True, True, True, True])
        np.testing.assert_array_equal(view.within(30), [False, False, True, True, True])

    def test_count(self, view):
        np.testing.assert_array_equal(view.count(), [3.0, 2.0, 0.0])
        np.testing.assert_array_equal(view.count(view.within(30)), [1.0, 2.0, 0.0])
        assert view.count().dtype == np.float64

    def test_total_counts_nan_as_zero_and_no_events_as_zero(self, view):
        amount = view.column("amount")
        np.testing.assert_array_equal(view.total(amount), [12.0, 8.0, 0.0])
        np.testing.assert_array_equal(view.total(amount, view.within(30)), [0.0, 8.0, 0.0])

    def test_mean_skips_nan_and_is_nan_without_values(self, view):
        amount = view.column("amount")
        np.testing.assert_array_equal(view.mean(amount), [6.0, 4.0, NAN])
        np.testing.assert_array_equal(view.mean(amount, view.within(30)), [NAN, 4.0, NAN])

    def test_last_is_the_nth_latest_event(self, view):
        amount = view.column("amount")
        np.testing.assert_array_equal(view.last(amount), [NAN, 3.0, NAN])  # 10's latest is NaN
        np.testing.assert_array_equal(view.last(amount, nth=2), [10.0, 5.0, NAN])
        np.testing.assert_array_equal(view.last(amount, nth=3), [2.0, NAN, NAN])
        np.testing.assert_array_equal(view.last(amount, ~view.within(30)), [10.0, NAN, NAN])

    def test_min_and_max_age(self, view):
        np.testing.assert_allclose(view.min_age(), [5.0, MICROSECOND_DAYS, NAN], rtol=1e-3)
        np.testing.assert_array_equal(view.max_age(), [100.0, 10.0, NAN])
        within = view.within(30)
        np.testing.assert_array_equal(view.max_age(within), [5.0, 10.0, NAN])
        np.testing.assert_array_equal(view.min_age(~within), [40.0, NAN, NAN])

    def test_subset_keeps_order_and_customers_and_drops_rows(self, view):
        sub = view.subset(view.within(30))
        np.testing.assert_array_equal(sub.pos, [0, 1, 1])
        np.testing.assert_allclose(sub.age, [5.0, 10.0, MICROSECOND_DAYS], rtol=1e-3)
        assert sub.n == 3 and len(sub.rows) == 0
        np.testing.assert_array_equal(sub.count(), [1.0, 2.0, 0.0])
        np.testing.assert_array_equal(sub.max_age(), view.max_age(view.within(30)))

    def test_column_is_float64_with_na_as_nan(self, view):
        amount = view.column("amount")
        flag = view.column("flag")
        assert amount.dtype == flag.dtype == np.float64
        np.testing.assert_array_equal(amount, [2.0, 10.0, NAN, 5.0, 3.0])
        np.testing.assert_array_equal(flag, [1.0, 0.0, NAN, 1.0, 0.0])


class TestRatio:
    def test_nan_where_the_denominator_is_zero_or_nan(self):
        out = ratio(np.array([1.0, 0.0, 3.0, 4.0, NAN]), np.array([2.0, 0.0, 0.0, NAN, 2.0]))
        np.testing.assert_array_equal(out, [0.5, NAN, NAN, NAN, NAN])
        assert out.dtype == np.float64

    def test_integer_inputs(self):
        np.testing.assert_array_equal(ratio(np.array([3, 1]), np.array([2, 0])), [1.5, NAN])
