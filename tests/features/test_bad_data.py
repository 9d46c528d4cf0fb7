"""The bad-data catalogue: every class of bad input, through the real CLI.

Each refused case runs ``churn validate`` and ``churn features`` (CliRunner on
``churn.cli.app``) on a small data folder and asserts what a user gets: exit code 2, one
error panel naming the file, the column and an example, no traceback, and no file
changed (neither the tables nor an existing snapshot). The reported-not-refused cases
(docs/data.md, "Reported, not refused") load with a warning that names file and column.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from churn.cli import app
from features.contract.load import load_tables

runner = CliRunner()

CUSTOMERS = (
    "customer_id,signup_at,cancelled_at,plan\n1,2024-01-01,,basic\n2,2024-02-01T10:00:00Z,,\n"
)
TRANSACTIONS = (
    "customer_id,ordered_at,amount,is_refund\n"
    "1,2024-05-01,10.5,false\n2,2024-05-02,20,false\n2,2024-05-09,-20,true\n"
)
TICKETS = "customer_id,opened_at,resolved_at,csat\n1,2024-05-03,2024-05-04,4\n"
SURVEYS = "customer_id,answered_at,nps\n1,2024-05-05,9\n"
OFFERS = "customer_id,offered_at,offer_id,accepted,cost\n2,2024-05-06,free_month,true,20\n"
GOOD = {
    "customers": CUSTOMERS,
    "transactions": TRANSACTIONS,
    "support_tickets": TICKETS,
    "surveys": SURVEYS,
    "offers": OFFERS,
}


def plain(output: str) -> str:
    """CLI output without the panel's borders and line wrapping."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", output).split())


def squashed(text: str) -> str:
    """``text`` without borders and whitespace (long paths are folded mid-word)."""
    return re.sub(r"[\s│╭╮╰╯─]", "", text)


def txn(*rows: str, header: str = "customer_id,ordered_at,amount,is_refund") -> str:
    return "\n".join([header, *rows]) + "\n"


@dataclass(frozen=True)
class Case:
    """One class of bad data: the files that differ from GOOD and what the panel names."""

    id: str
    files: dict[str, str | bytes | None]
    named: tuple[str, ...]
    extra: dict = field(default_factory=dict)


REFUSED = [
    Case("missing-file", {"transactions": None}, ("transactions.csv", "is missing")),
    Case(
        "missing-column",
        {"transactions": txn("1,2024-05-01", header="customer_id,ordered_at")},
        ("transactions.csv", "column 'amount'", "is missing"),
    ),
    Case(
        "unparseable-date",
        {"transactions": txn("1,yesterday,5,false")},
        ("transactions.csv", "column 'ordered_at'", "not a valid timestamp", "yesterday"),
    ),
    Case(
        "unparseable-number",
        {"transactions": txn("1,2024-05-01,ten,false")},
        ("transactions.csv", "column 'amount'", "not a valid float", "ten"),
    ),
    Case(
        "empty-required-value",
        {"transactions": txn("1,,5,false")},
        ("transactions.csv", "column 'ordered_at'", "is empty (required)", "line 2"),
    ),
    Case(
        "empty-table",
        {"customers": "customer_id,signup_at\n"},
        ("customers.csv", "has no rows"),
    ),
    Case(
        "unflagged-negative-amount",
        {"transactions": txn("1,2024-05-01,-3,false")},
        ("transactions.csv", "column 'amount'", "is negative but is_refund is not true", "-3"),
    ),
    Case(
        "nps-outside-0-10",
        {"surveys": "customer_id,answered_at,nps\n1,2024-05-05,11\n"},
        ("surveys.csv", "column 'nps'", "is outside 0–10", "11"),
    ),
    Case(
        "csat-outside-1-5",
        {"support_tickets": "customer_id,opened_at,csat\n1,2024-05-03,0\n"},
        ("support_tickets.csv", "column 'csat'", "is outside 1–5", "0"),
    ),
    Case(
        "duplicate-customer-ids",
        {"customers": CUSTOMERS + "2,2024-04-01,,\n"},
        ("customers.csv", "column 'customer_id'", "duplicate customer ids", "2"),
    ),
    Case(
        "inf-amount",
        {"transactions": txn("1,2024-05-01,inf,false")},
        ("transactions.csv", "column 'amount'", "is not a finite number", "inf"),
    ),
    Case(
        "minus-inf-amount",
        {"transactions": txn("1,2024-05-01,-inf,true")},
        ("transactions.csv", "column 'amount'", "is not a finite number", "-inf"),
    ),
    Case(
        "absurd-amount",
        {"transactions": txn("1,2024-05-01,1e308,false")},
        ("transactions.csv", "column 'amount'", "beyond ±1e+12", "1e+308"),
    ),
    Case(
        "absurd-offer-cost",
        {"offers": "customer_id,offered_at,offer_id,cost\n2,2024-05-06,x,2e13\n"},
        ("offers.csv", "column 'cost'", "beyond ±1e+12"),
    ),
    Case(
        "inf-quantity",
        {
            "transactions": txn(
                "1,2024-05-01,5,false,inf", header=TRANSACTIONS.split("\n")[0] + ",quantity"
            )
        },
        ("transactions.csv", "column 'quantity'", "is not a finite number", "inf"),
    ),
    Case(
        "far-future-order",
        {"transactions": txn("1,9999-12-31,5,false")},
        ("transactions.csv", "column 'ordered_at'", "outside the supported range", "9999-12-31"),
    ),
    Case(
        "ancient-signup",
        {"customers": "customer_id,signup_at\n1,1600-01-01\n2,2024-01-01\n"},
        ("customers.csv", "column 'signup_at'", "outside the supported range", "1600-01-01"),
    ),
    Case(
        "ancient-cancellation",
        {
            "customers": "customer_id,signup_at,cancelled_at\n"
            "1,2024-01-01,1600-01-01\n2,2024-01-01,\n"
        },
        ("customers.csv", "column 'cancelled_at'", "outside the supported range", "1600-01-01"),
    ),
    Case(
        "far-future-birth-date",
        {"customers": "customer_id,signup_at,birth_date\n1,2024-01-01,9999-12-31\n2,2024-01-01,\n"},
        ("customers.csv", "column 'birth_date'", "outside the supported range", "9999-12-31"),
    ),
    Case(
        "markup-like-amount",
        {"transactions": txn("1,2024-05-01,[/x],false")},
        ("transactions.csv", "column 'amount'", "not a valid float", "[/x]"),
    ),
    Case(
        "markup-like-date",
        {"transactions": txn("1,[bold]2024[/bold],5,false")},
        ("transactions.csv", "column 'ordered_at'", "[bold]2024[/bold]"),
    ),
    Case(
        "markup-like-duplicate-id",
        {"customers": "customer_id,signup_at\n[/],2024-01-01\n[/],2024-01-02\n"},
        ("customers.csv", "duplicate customer ids", "[/]"),
    ),
    Case(
        "wrong-encoding",
        {"customers": "customer_id,signup_at,country\n1,2024-01-01,M\xfcnchen\n".encode("latin-1")},
        (
            "customers.csv",
            "column 'country'",
            "not valid utf-8",
            "set [data] encoding in churn.toml",
        ),
    ),
    Case(
        "wrong-delimiter",
        {"transactions": TRANSACTIONS.replace(",", ";")},
        ("transactions.csv", "looks delimited by ';'", "set [data] delimiter = ';' in churn.toml"),
    ),
]


def write_data(folder: Path, files: dict[str, str | bytes | None]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in {**GOOD, **files}.items():
        if text is None:
            continue
        path = folder / f"{name}.csv"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return folder


def digests(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) with its SHA-256."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("command", ["validate", "features"])
@pytest.mark.parametrize("case", REFUSED, ids=[c.id for c in REFUSED])
def test_bad_data_is_refused_with_one_panel_and_nothing_changes(tmp_path, case, command):
    data = write_data(tmp_path / "data", case.files)
    out = tmp_path / "out"
    out.mkdir()
    (out / "features.parquet").write_bytes(b"yesterday's snapshot")
    before = digests(tmp_path)
    args = [command, "--data", str(data)]
    if command == "features":
        args += ["--as-of", "2025-01-01", "--out", str(out / "features.parquet")]

    result = runner.invoke(app, args)

    text = plain(result.output)
    assert result.exit_code == 2, result.output
    assert result.output.count("churn: error") == 1, result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception), result.exception
    for expected in case.named:
        assert squashed(expected) in squashed(text), f"{expected!r} not in {text!r}"
    assert digests(tmp_path) == before


class TestReportedNotRefused:
    """Findings a data scientist wants to know about that do not stop the work."""

    def run(self, tmp_path, files, *args):
        data = write_data(tmp_path / "data", files)
        return data, runner.invoke(
            app, ["features", "--data", str(data), "--as-of", "2025-01-01", *args]
        )

    def test_never_sentinel_in_cancelled_at_is_missing_with_a_warning(self, tmp_path):
        customers = "customer_id,signup_at,cancelled_at\n1,2024-01-01,9999-12-31\n2,2024-02-01,\n"
        data, result = self.run(tmp_path, {"customers": customers})
        assert result.exit_code == 0, result.output
        text = plain(result.output)
        assert "warning: customers.csv, column 'cancelled_at': has 'never' dates" in text
        assert "(1 row; e.g. 9999-12-31)" in text
        tables = load_tables(data)
        assert tables.customers["cancelled_at"].isna().all()
        [snapshot] = (data / "features").iterdir()
        assert not pd.read_parquet(snapshot).set_index("customer_id").loc[1, "is_cancelled"]

    def test_never_sentinel_in_resolved_at_leaves_the_ticket_open(self, tmp_path):
        tickets = "customer_id,opened_at,resolved_at\n1,2024-05-03,9999-12-31\n"
        data, result = self.run(tmp_path, {"support_tickets": tickets})
        assert result.exit_code == 0, result.output
        assert "support_tickets.csv, column 'resolved_at'" in plain(result.output)
        [snapshot] = (data / "features").iterdir()
        assert pd.read_parquet(snapshot).set_index("customer_id").loc[1, "open_tickets"] == 1

    def test_future_events_are_reported_with_file_column_count_examples(self, tmp_path):
        later = (pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=5 * 365)).strftime("%Y-%m-%d")
        files = {"transactions": TRANSACTIONS + f"1,{later},5,false\n2,{later},6,false\n"}
        _, result = self.run(tmp_path, files)
        assert result.exit_code == 0, result.output
        text = plain(result.output)
        assert "warning: transactions.csv, column 'ordered_at': is after today" in text
        assert f"(2 rows; e.g. {later}T00:00:00Z, {later}T00:00:00Z)" in text

    def test_markup_like_ids_are_printed_as_they_are(self, tmp_path):
        files = {
            "customers": "customer_id,signup_at\n[/],2024-01-01\n[red]b,2024-01-01\n",
            "transactions": txn("[/],2024-05-01,5,false", "[/x],2024-05-01,5,false"),
        }
        data, result = self.run(tmp_path, files)
        assert result.exit_code == 0, result.output
        text = plain(result.output)
        assert "column 'customer_id': references customers absent from customers" in text
        assert "e.g. [/x])" in text
        [snapshot] = (data / "features").iterdir()
        assert sorted(pd.read_parquet(snapshot)["customer_id"]) == ["[/]", "[red]b"]
        validated = runner.invoke(app, ["validate", "--data", str(data)])
        assert validated.exit_code == 0, validated.output
        assert "e.g. [/x])" in plain(validated.output)


class TestMarkupInMessages:
    """No user-supplied string is read as Rich markup, wherever the CLI prints it."""

    def test_data_folder_with_brackets_in_its_name(self, tmp_path):
        data = write_data(tmp_path / "[/]data[bold]", {})
        result = runner.invoke(app, ["validate", "--data", str(data)])
        assert result.exit_code == 0, result.output
        assert "[/]data[bold]" in result.output.replace("\n", "")

    def test_markup_like_as_of_is_echoed(self, tmp_path):
        data = write_data(tmp_path / "data", {})
        result = runner.invoke(app, ["features", "--data", str(data), "--as-of", "[/x]"])
        assert result.exit_code == 2, result.output
        assert "Invalid --as-of '[/x]'" in plain(result.output)
