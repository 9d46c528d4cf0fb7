"""Drift monitoring: is today's population still the one the champion was trained on?

:func:`monitor` compares the *current* customers (the latest feature snapshot, or
features built as of a date; customers active then, as the models score them) with the
*reference*: the churn champion's training rows, rebuilt point in time at the
champion's training cutoffs (``churn.train_cutoffs`` of its training run). It reports

* the PSI of every model feature (:mod:`training.monitoring.drift`),
* score drift: the PSI of the champion's churn probability, and of its predicted LTV,
  on the current rows against the reference rows,
* churn-rate drift: the churn rate of the training rows against the latest observed
  one (the latest cutoff whose horizon is complete), and that observed rate against
  the rate the champion expected for the same customers (calibration drift),

and advises retraining by :class:`Thresholds`. The result is logged to MLflow as a
``monitor`` run (tag ``kind=monitor``) with a ``monitor/summary.json`` the report reads.

The reference and current rows come from :mod:`training.monitoring.monitor_data`, which says
why the reference is rebuilt rather than stored.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient

from features.contract.tables import Tables
from features.families.build import CATEGORICAL_FEATURES
from training.monitoring.drift import (
    PSI_SIGNIFICANT,
    population_stability_index,
    psi_table,
    score_histogram,
)
from training.monitoring.monitor_data import (
    current_rows,
    data_fingerprint,
    observed_churn,
    reference_rows,
    reference_tables,
    training_record,
)
from training.registry.artifacts import load_json
from training.registry.registry import CHAMPION, CHURN_MODEL, LTV_MODEL, LoadedModel, load_model
from training.registry.tracking import configure

log = logging.getLogger(__name__)

SUMMARY_ARTIFACT = "monitor/summary.json"
KIND = "monitor"


@dataclass(frozen=True)
class Thresholds:
    """When retraining is advised (any one suffices).

    Attributes
    ----------
    feature_psi : float, default 0.2
        PSI above which a feature counts as drifted (the usual "significant shift").
    key_features : int, default 10
        Retrain when one of the ``key_features`` most important features of either
        champion (LightGBM gain) drifted: those move the scores.
    drifted_share : float, default 0.2
        Retrain when more than this share of all model features drifted (broad drift,
        even in features the models use little).
    score_psi : float, default 0.2
        Retrain when the PSI of the churn probability or of the predicted LTV exceeds it.
    churn_rate_change : float, default 0.25
        Retrain when the observed churn rate differs by more than this share from the
        training rows' rate (0.25: 20 % → below 15 % or above 25 %), or from the rate the
        champion expected for the same customers.

    Notes
    -----
    Seasonal features (e.g. ``days_since_last_offer`` follows the campaign calendar)
    can exceed 0.2 on unchanged data; one such feature alone does not advise
    retraining unless the models lean on it.
    """

    feature_psi: float = PSI_SIGNIFICANT
    key_features: int = 10
    drifted_share: float = 0.2
    score_psi: float = PSI_SIGNIFICANT
    churn_rate_change: float = 0.25


@dataclass
class MonitorResult:
    """What :func:`monitor` found; :meth:`to_dict` is the logged ``summary.json``.

    Attributes
    ----------
    as_of : str
        Cutoff of the current rows (ISO date).
    reference_source : str
        Which reference was used, in words.
    reference_cutoffs : list of str
        The champion's training cutoffs (ISO dates).
    models : dict of str to str
        Registered model name → champion version.
    rows_reference, rows_current : int
        Rows compared (customer × cutoff, customers).
    features : DataFrame
        :func:`training.monitoring.drift.psi_table` of the model features, highest PSI first, plus
        ``key`` (bool): among the most important features of either champion.
    score_psi, ltv_score_psi : float
        PSI of the churn probability and of the predicted LTV.
    score_histogram, ltv_histogram : DataFrame
        :func:`training.monitoring.drift.score_histogram` of both scores.
    churn_rate_reference : float
        Churn rate of the training rows (fraction over the horizon).
    churn_rate_observed : float
        Churn rate at ``observed_cutoff`` in the current tables; NaN when no complete
        horizon lies after the training cutoffs.
    churn_rate_expected : float
        Mean churn probability the champion gives the customers of ``observed_cutoff``.
    churn_rate_predicted : float
        Mean churn probability of the current rows.
    observed_cutoff : str or None
    horizon_days : int
    thresholds : Thresholds
    reasons : list of str
        Why retraining is advised (empty when it is not).
    current_source : str
        Where the current rows came from (a snapshot file, or features built as of).
    run_id : str or None
        The MLflow ``monitor`` run, once logged.
    """

    as_of: str
    reference_source: str
    reference_cutoffs: list[str]
    models: dict[str, str]
    rows_reference: int
    rows_current: int
    features: pd.DataFrame
    score_psi: float
    ltv_score_psi: float
    score_histogram: pd.DataFrame
    ltv_histogram: pd.DataFrame
    churn_rate_reference: float
    churn_rate_observed: float
    churn_rate_expected: float
    churn_rate_predicted: float
    observed_cutoff: str | None
    horizon_days: int
    thresholds: Thresholds = field(default_factory=Thresholds)
    reasons: list[str] = field(default_factory=list)
    current_source: str = ""
    run_id: str | None = None

    @property
    def retraining_advised(self) -> bool:
        """True when any threshold is crossed."""
        return bool(self.reasons)

    @property
    def drifted_features(self) -> list[str]:
        """Features whose PSI is above ``thresholds.feature_psi``, highest first."""
        return list(self.features.index[self.features["psi"] > self.thresholds.feature_psi])

    def to_dict(self) -> dict:
        """JSON-ready dict (frames as records)."""
        out = {
            k: v
            for k, v in asdict(self).items()
            if k not in ("features", "score_histogram", "ltv_histogram")
        }
        out["features"] = self.features.reset_index().to_dict("records")
        out["score_histogram"] = self.score_histogram.to_dict("records")
        out["ltv_histogram"] = self.ltv_histogram.to_dict("records")
        out["retraining_advised"] = self.retraining_advised
        return _finite(json.loads(json.dumps(out, default=_json_default)))

    @classmethod
    def from_dict(cls, data: Mapping) -> MonitorResult:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        data.pop("retraining_advised", None)
        features = pd.DataFrame(data.pop("features")).set_index("feature")
        number = (
            "score_psi",
            "ltv_score_psi",
            "churn_rate_reference",
            "churn_rate_observed",
            "churn_rate_expected",
            "churn_rate_predicted",
        )
        for key in number:
            data[key] = np.nan if data.get(key) is None else float(data[key])
        return cls(
            features=features.astype({"psi": float, "key": bool}),
            score_histogram=pd.DataFrame(data.pop("score_histogram")),
            ltv_histogram=pd.DataFrame(data.pop("ltv_histogram")),
            thresholds=Thresholds(**data.pop("thresholds")),
            **data,
        )


def _finite(value):
    """NaN and infinities become None (JSON has no NaN), recursively."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def key_features(models: list[LoadedModel], *, top: int) -> list[str]:
    """The ``top`` features by gain importance of each model, united, in model order."""
    out: list[str] = []
    for model in models:
        importance = model.model.importance().sort_values(ascending=False, kind="stable")
        out += [f for f in importance.index[:top] if f not in out]
    return out


# --------------------------------------------------------------------------- the check


def advise(result: MonitorResult) -> list[str]:
    """Reasons to retrain under ``result.thresholds`` (empty list: no need)."""
    t, reasons = result.thresholds, []
    drifted = result.drifted_features
    key = [f for f in drifted if result.features.loc[f, "key"]]
    if key:
        reasons.append(
            f"key feature{'s' if len(key) > 1 else ''} drifted (PSI > {t.feature_psi:g}): "
            + ", ".join(f"{f} {result.features.loc[f, 'psi']:.2f}" for f in key)
        )
    share = len(drifted) / max(len(result.features), 1)
    if share > t.drifted_share:
        reasons.append(
            f"{len(drifted)} of {len(result.features)} features ({share:.0%}) have "
            f"PSI > {t.feature_psi:g}"
        )
    for label, psi in (
        ("churn probability", result.score_psi),
        ("predicted LTV", result.ltv_score_psi),
    ):
        if psi > t.score_psi:
            reasons.append(f"the {label} distribution moved (PSI {psi:.2f} > {t.score_psi:g})")
    observed = result.churn_rate_observed
    for ref, what in (
        (result.churn_rate_reference, "the training rows' rate"),
        (result.churn_rate_expected, "the champion's expectation for them"),
    ):
        if (
            np.isfinite(observed)
            and np.isfinite(ref)
            and ref > 0
            and abs(observed - ref) / ref > t.churn_rate_change
        ):
            reasons.append(
                f"the observed churn rate at {result.observed_cutoff} is {observed:.1%} "
                f"against {ref:.1%}, {what} (more than ±{t.churn_rate_change:.0%} apart)"
            )
    return reasons


def monitor(
    tables: Tables,
    *,
    as_of: str | pd.Timestamp | None = None,
    snapshots: str | Path | None = None,
    tracking_uri: str | None = None,
    thresholds: Thresholds = Thresholds(),
    load: Callable[[Path], Tables] | None = None,
    log_run: bool = True,
) -> MonitorResult:
    """Compare the current population and scores with the champion's training data.

    Parameters
    ----------
    tables : Tables
        The current validated tables.
    as_of : str or Timestamp, optional
        Cutoff of the current rows; default the latest snapshot's (see
        :func:`current_rows`).
    snapshots : path, optional
        Folder of feature snapshots (``<data>/features``).
    tracking_uri : str, optional
        MLflow tracking URI (``MLFLOW_TRACKING_URI`` wins).
    thresholds : Thresholds
    load : callable, optional
        ``load(folder) -> Tables`` to read the champion's training files when they
        differ from ``tables`` (see :func:`reference_tables`).
    log_run : bool, default True
        Log a ``monitor`` run with the summary, the PSI table and two plots.

    Returns
    -------
    MonitorResult

    Raises
    ------
    ModelRegistryError
        When there is no champion.
    """
    configure(tracking_uri)
    churn = load_model(CHURN_MODEL, CHAMPION, tracking_uri=tracking_uri)
    ltv = load_model(LTV_MODEL, CHAMPION, tracking_uri=tracking_uri)
    record = training_record(churn)
    names = list(churn.model.input_names) + [
        n for n in ltv.model.input_names if n not in churn.model.input_names
    ]
    ref_tables, source = reference_tables(tables, record, load=load)
    reference = reference_rows(ref_tables, record)
    current, as_of, current_source = current_rows(
        tables, record, as_of=as_of, snapshots=snapshots, needed=names
    )
    log.info(
        "monitor: %d reference rows (%s), %d current rows (%s)",
        len(reference),
        source,
        len(current),
        current_source,
    )
    p_ref, p_cur = churn.model.predict_proba(reference), churn.model.predict_proba(current)
    v_ref, v_cur = ltv.model.predict(reference), ltv.model.predict(current)
    observed, expected, observed_cutoff = observed_churn(tables, record, churn)
    features = psi_table(
        reference, current, names, categorical=[n for n in names if n in CATEGORICAL_FEATURES]
    )
    features["key"] = features.index.isin(key_features([churn, ltv], top=thresholds.key_features))
    result = MonitorResult(
        as_of=f"{as_of:%Y-%m-%d}",
        reference_source=source,
        reference_cutoffs=[f"{t:%Y-%m-%d}" for t in record.cutoffs],
        models={churn.name: churn.version, ltv.name: ltv.version},
        rows_reference=len(reference),
        rows_current=len(current),
        features=features,
        score_psi=population_stability_index(p_ref, p_cur),
        ltv_score_psi=population_stability_index(v_ref, v_cur),
        score_histogram=score_histogram(p_ref, p_cur),
        ltv_histogram=score_histogram(v_ref, v_cur),
        churn_rate_reference=float(reference["churned"].mean()),
        churn_rate_observed=observed,
        churn_rate_expected=expected,
        churn_rate_predicted=float(np.mean(p_cur)) if len(p_cur) else np.nan,
        observed_cutoff=None if observed_cutoff is None else f"{observed_cutoff:%Y-%m-%d}",
        horizon_days=record.horizon_days,
        thresholds=thresholds,
        current_source=current_source,
    )
    result.reasons = advise(result)
    if log_run:
        result.run_id = log_result(result, data=data_fingerprint(tables), tracking_uri=tracking_uri)
    return result


def log_result(result: MonitorResult, *, data: str, tracking_uri: str | None = None) -> str:
    """Log ``result`` as a ``monitor`` run (tags, params, metrics, summary, plots); its id.

    ``data`` is the :func:`~training.monitoring.monitor_data.data_fingerprint` of the current
    tables, so the report finds the check of the data it describes.
    """
    from training.monitoring import monitor_plots

    configure(tracking_uri)

    with mlflow.start_run(run_name=f"monitor as-of {result.as_of}") as run:
        mlflow.set_tags(
            {
                "kind": KIND,
                "data_fingerprint": data,
                "retraining_advised": str(result.retraining_advised).lower(),
                **{f"version.{k}": v for k, v in result.models.items()},
            }
        )
        mlflow.log_params(
            {
                "as_of": result.as_of,
                "reference_source": result.reference_source[:500],
                "reference_cutoffs": ",".join(result.reference_cutoffs),
                "current_source": result.current_source,
                **{f"threshold.{k}": v for k, v in asdict(result.thresholds).items()},
            }
        )
        metrics = {
            "psi_churn_probability": result.score_psi,
            "psi_predicted_ltv": result.ltv_score_psi,
            "psi_feature_max": float(result.features["psi"].max())
            if len(result.features)
            else np.nan,
            "features_drifted": len(result.drifted_features),
            "churn_rate_reference": result.churn_rate_reference,
            "churn_rate_observed": result.churn_rate_observed,
            "churn_rate_expected": result.churn_rate_expected,
            "churn_rate_predicted": result.churn_rate_predicted,
            "retraining_advised": float(result.retraining_advised),
            "rows_reference": result.rows_reference,
            "rows_current": result.rows_current,
        }
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if np.isfinite(v)})
        mlflow.log_dict(result.to_dict(), SUMMARY_ARTIFACT)
        for name, figure in (
            ("monitor_psi.png", monitor_plots.psi_figure(result.features)),
            ("monitor_scores.png", monitor_plots.score_drift_figure(result)),
        ):
            mlflow.log_figure(figure, f"plots/{name}")
    return run.info.run_id


def latest_monitor(
    *,
    tracking_uri: str | None = None,
    models: Mapping[str, str] | None = None,
    data: str | None = None,
) -> MonitorResult | None:
    """The latest logged monitor result, or None.

    Parameters
    ----------
    tracking_uri : str, optional
    models : mapping of str to str, optional
        Only runs that checked these versions (registered name → version).
    data : str, optional
        Only runs on these tables (:func:`data_fingerprint`).
    """
    experiment = configure(tracking_uri)
    query = f"tags.kind = '{KIND}'"
    for name, version in (models or {}).items():
        query += f" and tags.`version.{name}` = '{version}'"
    if data is not None:
        query += f" and tags.data_fingerprint = '{data}'"
    runs = MlflowClient().search_runs(
        [experiment], filter_string=query, order_by=["attributes.start_time DESC"], max_results=1
    )
    if not runs:
        return None
    data = load_json(runs[0].info.run_id, SUMMARY_ARTIFACT)
    if data is None:
        log.warning("monitor run %s has no readable summary", runs[0].info.run_id)
        return None
    result = MonitorResult.from_dict(data)
    result.run_id = runs[0].info.run_id
    return result
