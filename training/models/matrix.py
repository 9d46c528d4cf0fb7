"""The model matrix: which feature columns a model uses and how they are typed.

Numeric features go in as float64 (NaN stays NaN: LightGBM handles it natively);
categorical features become pandas categoricals with the categories learned at fit
time, so a value never seen in training maps to NaN instead of shifting the codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.contract.errors import SnapshotError
from features.contract.schema import CUSTOMER_ID
from features.families.build import CATEGORICAL_FEATURES
from features.families.purchase_days import PURCHASE_DAY_FEATURES
from training.models.btyd import BTYD_FEATURES, PREDICTION_COLUMNS, rfm_of_features

NOT_FEATURES = (CUSTOMER_ID, "cutoff", "is_cancelled", "churned", "ltv", "contract_type_label")


@dataclass(frozen=True)
class FeatureSpec:
    """Feature names and categorical levels a model was trained with.

    Attributes
    ----------
    numeric : tuple of str
    categorical : dict of str to tuple of str
        Levels of each categorical feature, in code order.
    """

    numeric: tuple[str, ...]
    categorical: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        """All feature names in matrix column order."""
        return [*self.numeric, *self.categorical]

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> FeatureSpec:
        """Learn the spec from a training frame of features (extra label columns ignored)."""
        cols = [c for c in frame.columns if c not in NOT_FEATURES]
        categorical = {
            c: tuple(sorted(frame[c].dropna().astype(str).unique()))
            for c in cols
            if c in CATEGORICAL_FEATURES
        }
        numeric = tuple(c for c in cols if c not in categorical)
        return cls(numeric=numeric, categorical=categorical)

    def missing(self, frame: pd.DataFrame) -> list[str]:
        """Feature names this spec needs that ``frame`` lacks."""
        return [c for c in self.names if c not in frame.columns]

    def matrix(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model input: spec columns in order, typed, shape (n_rows, n_features).

        Raises
        ------
        SnapshotError
            When a feature the model needs is absent from ``frame``.
        """
        if missing := self.missing(frame):
            raise SnapshotError(
                f"The features lack {len(missing)} column(s) the model was trained with: "
                f"{', '.join(missing[:10])}. Rebuild the snapshot with this version of the code."
            )
        if self.is_matrix(frame):
            return frame
        numeric = frame[list(self.numeric)]
        if not all(pd.api.types.is_float_dtype(d) for d in numeric.dtypes):
            numeric = numeric.apply(pd.to_numeric, errors="coerce")
        values = numeric.to_numpy(dtype="float64", na_value=np.nan)
        out = pd.DataFrame(values, columns=list(self.numeric), index=frame.index)
        for c, levels in self.categorical.items():
            text = frame[c].astype("string").to_numpy(dtype=object, na_value=None)
            codes = pd.Index(levels, dtype=object).get_indexer(text)  # unseen or missing: -1
            out[c] = pd.Categorical.from_codes(codes, categories=list(levels))
        return out

    def is_matrix(self, frame: pd.DataFrame) -> bool:
        """Whether ``frame`` already is this spec's model matrix (then it is used as is)."""
        if list(frame.columns) != self.names:
            return False
        if not all(frame[c].dtype == "float64" for c in self.numeric):
            return False
        return all(
            isinstance(frame[c].dtype, pd.CategoricalDtype)
            and list(frame[c].cat.categories) == list(levels)
            for c, levels in self.categorical.items()
        )


REFERENCE_POINTS = 1001
"""Quantile points kept of a model's reference distribution (every 0.1 percentile)."""


def quantile_points(values) -> np.ndarray:
    """``REFERENCE_POINTS`` evenly spaced quantiles of the finite ``values``, ascending.

    Returns
    -------
    numpy.ndarray of float, shape (REFERENCE_POINTS,), or (0,) without finite values.
    """
    x = np.asarray(values, dtype=float).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        return np.empty(0)
    return np.quantile(x, np.linspace(0.0, 1.0, REFERENCE_POINTS))


class FeatureModel:
    """Base of the fitted models: the model matrix of a feature frame.

    A model fitted with BTYD features (``btyd_``, a :class:`training.models.btyd.BTYDFeatures`)
    adds them to a frame that lacks them, with the BTYD fit it was trained with: a
    snapshot or an HTTP request carries the purchase-day features, not the BTYD ones.
    """

    spec_: FeatureSpec
    reference_: np.ndarray
    """Quantile points (:func:`quantile_points`) of the model's predictions on the
    population it scores, recorded at training (its newest complete cutoff); what the
    offer policy cuts relative risk bands and value segments on. Absent on models
    trained before it existed."""

    @property
    def input_names(self) -> list[str]:
        """The features a caller must supply: :attr:`FeatureSpec.names` less derived ones."""
        btyd = self.__dict__.get("btyd_")
        derived = set(btyd.names) if btyd is not None else set()
        return [n for n in self.spec_.names if n not in derived]

    def matrix(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model input of ``frame``, shape (n_rows, n_features): :meth:`FeatureSpec.matrix`."""
        btyd = self.__dict__.get("btyd_")
        if btyd is not None and not self.spec_.is_matrix(frame):
            # only the columns this model reads (and the BTYD inputs): a copy of those, not
            # of every column of a wide snapshot
            wanted = dict.fromkeys([*self.input_names, *PURCHASE_DAY_FEATURES])
            frame = btyd.add(frame[[c for c in wanted if c in frame.columns]])
        return self.spec_.matrix(frame)


def model_matrices(frame: pd.DataFrame, models: Sequence[FeatureModel]) -> list[pd.DataFrame]:
    """The model matrix of ``frame`` for each of ``models``, sharing the work they share.

    The scoring core: the BTYD block (RFM columns, P(alive), order value) is computed
    once per BTYD fit for every horizon the models read it over, and the typed matrix is
    built once per feature spec; a model whose spec equals an earlier one's gets a copy
    with only its BTYD columns replaced. Same result as ``[m.matrix(frame) for m in
    models]``; each matrix has shape (n_rows, n_features of its model).
    """
    fits = [m.__dict__.get("btyd_") for m in models]
    horizons: dict[str, set[int]] = {}
    for model, fit in zip(models, fits, strict=True):
        if fit is not None and fit.params is not None and not model.spec_.is_matrix(frame):
            horizons.setdefault(repr(fit.params), set()).add(fit.horizon_days)
    rfm = rfm_of_features(frame) if horizons else None
    blocks = {}
    for fit in fits:
        key = None if fit is None else repr(fit.params)
        if key in horizons and key not in blocks:
            blocks[key] = fit.params.predict_horizons(rfm, sorted(horizons[key]))
    built: list[tuple[FeatureSpec, pd.DataFrame]] = []
    out = []
    for model, fit in zip(models, fits, strict=True):
        if fit is None or model.spec_.is_matrix(frame):
            out.append(model.matrix(frame))
            continue
        block = blocks.get(repr(fit.params), {}).get(fit.horizon_days)  # None: nobody ordered
        btyd = {
            name: np.full(len(frame), np.nan) if block is None else block[column].to_numpy()
            for column, name in zip(PREDICTION_COLUMNS, BTYD_FEATURES, strict=True)
            if name in fit.names
        }
        X = next((X.copy() for spec, X in built if spec == model.spec_), None)
        if X is None:
            wanted = [c for c in model.input_names if c in frame.columns]
            X = model.spec_.matrix(frame[wanted].assign(**btyd))
            built.append((model.spec_, X))
        else:
            for name, values in btyd.items():
                X[name] = values
        out.append(X)
    return out
