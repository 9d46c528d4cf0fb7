"""Feature rows sent by callers of ``score_features``: checked against the models, framed.

The models say which features they need and of which kind (:class:`FeatureSpec`):
numeric ones take numbers (booleans read as 1/0) or null, categorical ones strings or
null. A row that lacks a feature, or gives one the wrong kind of value, is a caller's
mistake the service refuses with the rows and features named; other keys are ignored.
A category value the models do not know (``"ZZZ"``, or ``"BRONZE"`` for ``"bronze"``)
is scored as missing, as at training, and the row's result says so
(:func:`unknown_levels`). A feature snapshot is held to the same kinds at load
(:func:`frame_problems`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
from pandas.api.types import infer_dtype, is_bool_dtype, is_numeric_dtype

from features.contract.schema import CUSTOMER_ID
from serving.api.schemas import FeatureRow
from serving.policy.catalog import OPTIONAL_COLUMNS
from serving.policy.scoring import ScoringModels

Kinds = Mapping[str, tuple[str, ...] | None]
SHOWN = 3


def feature_kinds(models: ScoringModels) -> dict[str, tuple[str, ...] | None]:
    """``{feature: None}`` for numeric and ``{feature: levels}`` for categorical features.

    Both models' features, the churn model's first, in matrix order.
    """
    kinds: dict[str, tuple[str, ...] | None] = {}
    for model in (models.churn.model, models.ltv.model):
        spec, inputs = model.spec_, set(model.input_names)
        kinds.update({n: None for n in spec.numeric if n not in kinds and n in inputs})
        kinds.update({n: tuple(levels) for n, levels in spec.categorical.items() if n in inputs})
    return kinds


def row_problems(rows: Sequence[FeatureRow], kinds: Kinds) -> list[str]:
    """One phrase per row that cannot be scored, naming its missing or mistyped features."""
    problems = []
    for i, row in enumerate(rows):
        missing = [name for name in kinds if name not in row.features]
        wrong = [
            name
            for name, levels in kinds.items()
            if row.features.get(name) is not None
            and isinstance(row.features[name], str) != (levels is not None)
        ]
        if missing or wrong:
            parts = []
            if missing:
                extra = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
                parts.append(f"missing {', '.join(missing[:5])}{extra}")
            parts += [
                f"{name} must be {'a number' if kinds[name] is None else 'a string'} or null"
                for name in wrong[:5]
            ]
            problems.append(f"row {i} (customer_id {row.customer_id!r}): {', '.join(parts)}")
    return problems


def describe(problems: Sequence[str], rows: int) -> str:
    """The refusal message for ``problems`` found in ``rows`` rows."""
    more = f" (and {len(problems) - SHOWN} more rows)" if len(problems) > SHOWN else ""
    return (
        f"{len(problems)} of {rows} feature rows cannot be scored: "
        f"{'; '.join(problems[:SHOWN])}{more}. model_info lists the features and their kinds."
    )


def feature_frame(rows: Sequence[FeatureRow], kinds: Kinds) -> pd.DataFrame:
    """The rows as a feature frame: ``customer_id``, every feature, and the offer inputs.

    Assumes :func:`row_problems` found nothing; absent offer inputs are None (unknown).
    """
    keep = [*kinds, *(c for c in OPTIONAL_COLUMNS if c not in kinds)]
    return pd.DataFrame.from_records(
        [{CUSTOMER_ID: row.customer_id, **{c: row.features.get(c) for c in keep}} for row in rows],
        columns=[CUSTOMER_ID, *keep],
    )


def unknown_levels(row: FeatureRow, kinds: Kinds) -> list[str]:
    """One warning per categorical feature of ``row`` whose value the models do not know."""
    found = []
    for name, levels in kinds.items():
        value = row.features.get(name)
        if levels is None or not isinstance(value, str) or value in levels:
            continue
        near = next((lv for lv in levels if lv.casefold() == value.casefold()), None)
        hint = f"; did you mean {near!r}?" if near is not None else ""
        shown = ", ".join(repr(lv) for lv in levels[:8]) + (", ..." if len(levels) > 8 else "")
        found.append(
            f"{name}: unknown value {value[:50]!r}, scored as missing (known: {shown}){hint}"
        )
    return found


def frame_problems(frame: pd.DataFrame, kinds: Kinds) -> list[str]:
    """What keeps the models from reading ``frame`` (a feature snapshot), one phrase each.

    A feature the models need that the frame lacks; a numeric feature whose column is not
    numbers; a categorical one whose values are not text. Columns with no value pass.
    """
    missing = [name for name in kinds if name not in frame.columns]
    problems = []
    if missing:
        extra = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        problems.append(f"lacks {', '.join(missing[:5])}{extra}")
    for name, levels in kinds.items():
        if name not in frame.columns or frame[name].isna().all():
            continue
        column = frame[name]
        if levels is None:
            if not (is_numeric_dtype(column) or is_bool_dtype(column)):
                problems.append(f"{name} must hold numbers but holds {_kind(column)}")
        else:
            values = (
                column.cat.categories if isinstance(column.dtype, pd.CategoricalDtype) else column
            )
            if infer_dtype(values, skipna=True) not in ("string", "empty"):
                problems.append(f"{name} must hold text (a category) but holds {_kind(column)}")
    return problems


def _kind(column: pd.Series) -> str:
    """``integer values (e.g. 7, 3)``: what a column holds, for messages."""
    values = column.dropna()
    examples = ", ".join(repr(v) for v in values.head(2).tolist())
    return f"{infer_dtype(values, skipna=True)} values (e.g. {examples})"
