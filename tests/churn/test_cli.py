"""The CLI base (``churn/app.py``) and the data and training commands, through CliRunner.

The command list is read from the app and the command modules, not written down here.
The bad-data catalogue (``tests/features/test_bad_data.py``) and ``--as-of`` parsing
(``test_options.py``) have their own tests.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import churn
from churn import app as app_module
from churn.app import print_warning
from churn.cli import app
from features.contract.errors import ChurnError, ConfigError
from tests.features.test_bad_data import plain, squashed, write_data

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]

COMMAND_MODULES = tuple(
    importlib.import_module(f"churn.{m.name}")
    for m in pkgutil.iter_modules(churn.__path__)
    if m.name.endswith("_commands")
)
"""Every ``churn/*_commands.py``: each must register commands on the app (cli.py imports it)."""


def command_name(info: typer.models.CommandInfo) -> str:
    """The name Typer gives a registered command (function name, ``_`` → ``-``)."""
    return info.name or info.callback.__name__.lower().replace("_", "-")


def listed_commands(output: str) -> list[str]:
    """The command names of a rendered ``--help``'s Commands panel, in order."""
    panel = output[output.index("Commands") :]
    return re.findall(r"^│ (\S+)\s{2,}", panel, flags=re.MULTILINE)


COMMANDS = {command_name(c): c for c in app.registered_commands}
GROUPS = {g.name: g.typer_instance for g in app.registered_groups}


@pytest.fixture
def elsewhere(tmp_path, monkeypatch) -> Path:
    """A working folder without churn.toml; no CHURN_* or MLFLOW_* settings from the env."""
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    for key in [k for k in os.environ if k.startswith(("CHURN_", "MLFLOW_"))]:
        monkeypatch.delenv(key)
    return folder


class TestHelp:
    def test_every_command_module_registers_commands(self):
        # in a fresh interpreter: only what churn.cli itself imports is registered there
        probe = (
            "from churn.cli import app; "
            "print(' '.join(sorted({c.callback.__module__ for c in app.registered_commands})))"
        )
        done = subprocess.run(
            [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == sorted(m.__name__ for m in COMMAND_MODULES)
        assert GROUPS.keys() == {"import"}

    def test_lists_every_command_and_group(self):
        result = runner.invoke(app, ["--help"])
        assert result.exit_code == 0, result.output
        assert sorted(listed_commands(result.output)) == sorted([*COMMANDS, *GROUPS])
        assert {"generate", "validate", "features", "train", "promote", "models"} <= set(COMMANDS)

    def test_import_lists_its_commands(self):
        result = runner.invoke(app, ["import", "--help"])
        assert result.exit_code == 0, result.output
        expected = [command_name(c) for c in GROUPS["import"].registered_commands]
        assert listed_commands(result.output) == expected == ["orders"]

    @pytest.mark.parametrize("name", sorted(COMMANDS))
    def test_each_command_help_shows_its_summary_as_written(self, name):
        """Square brackets in a summary (``[scoring]``) are text, not Rich markup."""
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, result.output
        summary = inspect.getdoc(COMMANDS[name].callback).splitlines()[0].replace("\\[", "[")
        assert squashed(summary) in squashed(result.output), summary

    def test_no_arguments_shows_the_help(self):
        result = runner.invoke(app, [])
        assert "Usage:" in result.output and sorted(listed_commands(result.output)) == sorted(
            [*COMMANDS, *GROUPS]
        )


def error_app() -> typer.Typer:
    """A Typer app on the CLI's group class, with commands that fail in different ways."""
    demo = typer.Typer(cls=app_module._UserErrorGroup)

    @demo.command()
    def domain() -> None:
        raise ChurnError("customers.csv [/x]: bad\nsecond line [bold]kept[/bold]")

    @demo.command()
    def config() -> None:
        raise ConfigError("--budget", -1, "a positive amount")

    @demo.command()
    def bug() -> None:
        raise RuntimeError("a programming error")

    return demo


class TestUserErrors:
    def test_a_churn_error_is_one_panel_exit_2_no_traceback(self):
        result = runner.invoke(error_app(), ["domain"])
        assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
        assert result.output.count("churn: error") == 1 and "Traceback" not in result.output
        text = plain(result.output)
        assert "customers.csv [/x]: bad" in text and "second line [bold]kept[/bold]" in text

    def test_subclasses_are_user_errors_too(self):
        result = runner.invoke(error_app(), ["config"])
        assert result.exit_code == 2
        assert "Invalid --budget: -1; expected a positive amount." in plain(result.output)

    def test_other_exceptions_are_not_disguised_as_user_errors(self):
        result = runner.invoke(error_app(), ["bug"])
        assert result.exit_code == 1 and isinstance(result.exception, RuntimeError)
        assert "churn: error" not in result.output

    def test_a_real_command_refusing_an_option_value(self, elsewhere):
        result = runner.invoke(
            app,
            ["import", "orders", "--orders", "o.csv", "--out", "tables", "--column", "[/x]"],
        )
        assert result.exit_code == 2, result.output
        assert result.output.count("churn: error") == 1
        assert "Invalid --column: '[/x]'; expected FIELD=NAME" in plain(result.output)
        assert not (elsewhere / "tables").exists()


class TestPrintWarning:
    def test_label_and_message_printed_as_they_are(self, capsys):
        print_warning("customer [/x] has [bold]no[/bold] orders", label="note")
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err == "note: customer [/x] has [bold]no[/bold] orders\n"


class TestGenerate:
    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (
                ["--format", "xml"],
                "Invalid file_format: 'xml'; expected one of ('csv', 'parquet').",
            ),
            (
                ["--start", "2025-01-01", "--end", "2024-01-01"],
                "Invalid start/end: '2025-01-01' to '2024-01-01'; expected start before end.",
            ),
            (["--start", "someday"], "Invalid start: 'someday'; expected an ISO date"),
        ],
        ids=["format", "start-after-end", "start-not-a-date"],
    )
    def test_bad_values_are_one_panel_and_nothing_written(self, tmp_path, args, message):
        out = tmp_path / "demo"
        result = runner.invoke(app, ["generate", "--out", str(out), *args])
        assert result.exit_code == 2, result.output
        assert result.output.count("churn: error") == 1 and "Traceback" not in result.output
        assert message in plain(result.output)
        assert not out.exists()

    @pytest.mark.parametrize(
        ("args", "option"),
        [(["--customers", "0"], "--customers"), (["--shift", "1.5"], "--shift")],
    )
    def test_out_of_range_numbers_are_usage_errors(self, tmp_path, args, option):
        result = runner.invoke(app, ["generate", "--out", str(tmp_path / "demo"), *args])
        assert result.exit_code == 2, result.output
        assert f"Invalid value for '{option}'" in plain(result.output)
        assert not (tmp_path / "demo").exists()


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, dict[str, int], str]:
    """(folder, rows per table, output) of `churn generate` of 20 customers, as CSV."""
    out = tmp_path_factory.mktemp("cli") / "[/x]demo"
    result = runner.invoke(app, ["generate", "--out", str(out), "--customers", "20", "--seed", "3"])
    assert result.exit_code == 0, result.output
    text = plain(result.output)
    counts = {table: int(n) for n, table in re.findall(r"(\d+) (\w+)[,;]", text)}
    return out, counts, text


class TestGenerateAndValidate:
    def test_generate_says_what_it_wrote_with_the_path_as_given(self, generated):
        out, counts, text = generated
        assert text.startswith(f"Wrote {out}: 20 customers, ")
        assert counts["customers"] == 20 and counts["transactions"] > 20
        assert re.search(r"mean monthly churn \d+\.\d%\.$", text)
        assert {p.name for p in out.glob("*.csv")} == {f"{t}.csv" for t in counts} - {
            "ground_truth.csv"
        }

    def test_validate_prints_each_tables_rows_and_file(self, generated):
        out, counts, _ = generated
        result = runner.invoke(app, ["validate", "--data", str(out)])
        assert result.exit_code == 0, result.output
        lines = re.findall(r"(\w+) ([\d,]+) rows (\S+)", plain(result.output))  # paths wrap
        assert {name: int(n.replace(",", "")) for name, n, _ in lines} == {
            t: n for t, n in counts.items() if t != "ground_truth"
        }
        assert {name: file for name, _, file in lines}["customers"] == str(out / "customers.csv")
        assert plain(result.output).endswith(".csv The data meets the contract.")

    def test_an_absent_optional_table_is_zero_rows_absent(self, tmp_path):
        data = write_data(tmp_path / "data", {"surveys": None})
        result = runner.invoke(app, ["validate", "--data", str(data)])
        assert result.exit_code == 0, result.output
        assert re.search(r"^surveys +0 rows  \(absent\)$", result.output, flags=re.MULTILINE)


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory) -> Path:
    """A settings file naming a private, empty MLflow store (created by the first command)."""
    root = tmp_path_factory.mktemp("store")
    config = root / "churn.toml"
    config.write_text(f'tracking_uri = "sqlite:///{root / "mlflow.db"}"\n', encoding="utf-8")
    return config


@pytest.mark.usefixtures("isolated_mlflow")
class TestRegistryCommands:
    def test_models_on_an_empty_store_is_an_empty_table_naming_it(self, empty_store, elsewhere):
        result = runner.invoke(app, ["models", "--config", str(empty_store)])
        assert result.exit_code == 0, result.output
        text = squashed(result.output)
        assert squashed(f"Registered models in sqlite:///{empty_store.parent}/mlflow.db") in text
        assert "churn-classifier" not in text

    def test_promote_without_a_challenger_is_a_user_error(self, empty_store, elsewhere, tmp_path):
        data = write_data(tmp_path / "data", {})
        result = runner.invoke(app, ["promote", "--data", str(data), "--config", str(empty_store)])
        assert result.exit_code == 2, result.output
        assert result.output.count("churn: error") == 1 and "Traceback" not in result.output
        assert "'churn-classifier' has no 'challenger' version; run `churn train` first." in (
            plain(result.output)
        )
