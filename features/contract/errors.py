"""Domain exceptions, one class per failure, messages built from structured arguments.

Every layer (features, training, serving) raises these; the CLI turns any
:class:`ChurnError` into one clear paragraph and a non-zero exit code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


class ChurnError(Exception):
    """Base class of every error a user can cause and fix."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input table.

    Parameters
    ----------
    file : str
        The file (or table name) the problem is in.
    column : str or None
        The column at fault, None for file-level problems.
    issue : str
        What is wrong, as a short phrase ("is missing", "is not a number").
    rows : int
        How many rows are affected (0 for file-level problems).
    examples : tuple of str
        Up to five offending values or row numbers.
    """

    file: str
    column: str | None
    issue: str
    rows: int = 0
    examples: tuple[str, ...] = field(default_factory=tuple)

    def __str__(self) -> str:
        where = f"{self.file}, column '{self.column}'" if self.column else self.file
        text = f"{where}: {self.issue}"
        if self.rows:
            text += f" ({self.rows} row{'s' if self.rows != 1 else ''}"
            if self.examples:
                text += f"; e.g. {', '.join(self.examples)}"
            text += ")"
        return text


class DataContractError(ChurnError):
    """Input tables break the data contract; holds every problem found at load."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"The input data does not meet the data contract ({len(self.problems)} "
            f"problem{'s' if len(self.problems) != 1 else ''}):\n{lines}"
        )


class ConfigError(ChurnError, ValueError):
    """A setting or argument has a value outside what is allowed (also a ``ValueError``)."""

    def __init__(self, name: str, value: object, expected: str):
        self.name, self.value, self.expected = name, value, expected
        super().__init__(f"Invalid {name}: {value!r}; expected {expected}.")


class SnapshotError(ChurnError):
    """A feature snapshot is missing, unreadable or does not fit the models."""


class IncompleteHorizonError(ChurnError):
    """A cutoff's label horizon reaches past the end of the data."""

    def __init__(self, cutoff: str, horizon_days: int, data_end: str):
        self.cutoff, self.horizon_days, self.data_end = cutoff, horizon_days, data_end
        super().__init__(
            f"Cutoff {cutoff} needs {horizon_days} days of outcomes after it, but the data "
            f"ends at {data_end}; choose a cutoff on or before the data end minus "
            f"{horizon_days} days."
        )


class ModelRegistryError(ChurnError):
    """A registered model, version or alias could not be found or used."""


class EmptyBaseError(ChurnError):
    """There is no active customer to score as of a cutoff."""

    def __init__(self, as_of: str, known: int, rule: str):
        self.as_of, self.known, self.rule = as_of, known, rule
        super().__init__(
            f"No active customer to score as of {as_of}: none of the {known:,} customers "
            f"known then is active ({rule}). Choose another --as-of or check the data."
        )


class EmptyTrainingSetError(ChurnError):
    """No customer is active at the cutoffs a model would be trained or validated on."""

    def __init__(self, cutoffs: Sequence[str], known: int, active_days: int | None):
        self.cutoffs, self.known, self.active_days = tuple(cutoffs), known, active_days
        rule = "an order before the cutoff" + (
            f", one in the {active_days} days before it" if active_days is not None else ""
        )
        super().__init__(
            f"Nothing to train on: none of the {known:,} customers is active (signed up, not "
            f"cancelled, {rule}) at the cutoff(s) {', '.join(self.cutoffs)}. The cutoffs "
            "are placed back from the end of the data by the label horizons; check the data "
            "end `churn train` reports, the order history, or shorten training.horizon_days "
            "/ training.cutoffs."
        )


class OneOutcomeError(ChurnError):
    """Every labelled row of a role has the same churn outcome: nothing to learn or judge."""

    def __init__(self, role: str, cutoffs: Sequence[str], rows: int, churned: bool):
        self.role, self.cutoffs, self.rows, self.churned = role, tuple(cutoffs), rows, churned
        outcome = "churned" if churned else "stayed"
        super().__init__(
            f"Nothing to learn: every one of the {rows:,} customer rows of the {role} "
            f"cutoff(s) {', '.join(self.cutoffs)} {outcome} within the horizon; a churn "
            "model needs customers of both outcomes. Check the order history around those "
            "dates, the population ([scoring] population: 'all' includes customers lapsed "
            "long ago) and training.horizon_days."
        )


class OutputError(ChurnError):
    """An output file or folder cannot be written."""

    def __init__(self, path: str, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f"Cannot write {path}: {reason}. Nothing was written.")
