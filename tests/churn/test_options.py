"""``--as-of``: one parser for every command; a cutoff is a whole UTC day (issue 14)."""

from __future__ import annotations

import typing

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from churn.cli import app
from churn.options import parse_as_of_option
from features.families.events import parse_as_of
from features.io.snapshot import read_snapshot, snapshot_path
from tests.features.test_bad_data import plain, write_data

runner = CliRunner()


def as_of_options():
    """``{command: OptionInfo}`` of every ``--as-of`` option of the CLI."""
    found = {}
    for command in app.registered_commands:
        hints = typing.get_type_hints(command.callback, include_extras=True)
        for hint in hints.values():
            for info in getattr(hint, "__metadata__", ()):
                if not isinstance(info, typer.models.OptionInfo):
                    continue
                decls = (info.default, *(info.param_decls or ()))  # Annotated: decl first
                if "--as-of" in decls:
                    found[command.name or command.callback.__name__] = info
    return found


def test_every_as_of_option_uses_the_one_parser():
    found = as_of_options()
    assert set(found) >= {"features", "score", "monitor"}
    for name, info in found.items():
        assert info.parser is parse_as_of_option, name


class TestParseAsOf:
    @pytest.mark.parametrize(
        "text", ["2025-06-30", "2025-06-30T00:00:00Z", "2025-06-30T02:00:00+02:00", " 2025-06-30 "]
    )
    def test_a_utc_day(self, text):
        assert parse_as_of(text) == pd.Timestamp("2025-06-30", tz="UTC")

    def test_a_time_of_day_is_refused_naming_the_utc_time_and_the_days(self):
        with pytest.raises(Exception, match="whole UTC day") as err:
            parse_as_of("2025-06-30T12:00:00+05:00")
        message = str(err.value)
        assert "2025-06-30 07:00:00 UTC" in message
        assert "2025-06-30 cuts at 2025-06-30 00:00 UTC" in message

    @pytest.mark.parametrize("text", ["soon", "", "2025-13-01", "9999-12-31", "1600-01-01"])
    def test_not_a_usable_date(self, text):
        with pytest.raises(Exception, match=r"Invalid --as-of"):
            parse_as_of(text)


@pytest.mark.parametrize(
    "command",
    [
        ["features"],
        ["score", "--out", "scores.parquet"],
        ["monitor"],
    ],
    ids=["features", "score", "monitor"],
)
def test_every_command_refuses_a_time_of_day_before_doing_anything(tmp_path, command):
    data = write_data(tmp_path / "data", {})
    result = runner.invoke(
        app, [*command, "--data", str(data), "--as-of", "2025-06-30T12:00:00+05:00"]
    )
    assert result.exit_code == 2, result.output
    assert result.output.count("churn: error") == 1
    assert "a cutoff is a whole UTC day, but this is 2025-06-30 07:00:00 UTC" in plain(
        result.output
    )
    assert sorted(p.name for p in data.iterdir()) == sorted(
        f"{n}.csv" for n in ("customers", "transactions", "support_tickets", "surveys", "offers")
    )


def test_a_utc_midnight_with_a_time_is_the_date_snapshot(tmp_path):
    data = write_data(tmp_path / "data", {})
    result = runner.invoke(
        app, ["features", "--data", str(data), "--as-of", "2025-06-30T05:00:00+05:00"]
    )
    assert result.exit_code == 0, result.output
    path = data / "features" / "features_2025-06-30.parquet"
    assert read_snapshot(path)[1].as_of == "2025-06-30T00:00:00+00:00"


def test_the_library_names_a_cutoff_with_a_time_exactly(tmp_path):
    midnight = pd.Timestamp("2025-06-30", tz="UTC")
    seven = pd.Timestamp("2025-06-30T12:00:00+05:00")
    assert snapshot_path(tmp_path, midnight).name == "features_2025-06-30.parquet"
    assert snapshot_path(tmp_path, seven).name == "features_2025-06-30T070000Z.parquet"
