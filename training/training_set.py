"""The stacked training set: features and labels at every cutoff, one pass per partition.

Each customer partition's tables are read once; the features at every cutoff of the
plans, the labels and the BTYD inputs all come from that read
(:func:`partition_rows`, a pure function of a set of whole customers, so the local
engine and Spark's ``applyInPandas`` run the same code and give the same rows). The
rows are written as a folder of Parquet part files and read back by
:class:`TrainingSet`, a cutoff and a customer sample at a time.

Rows, one per (customer with an order known at the cutoff, cutoff):

- ``customer_id``, ``cutoff``, the features of :func:`features.families.build.build_features`;
- ``labelled``: the customer is in the population at the cutoff; only these rows carry
  labels and are trained or judged on, the others only feed the BTYD fits (which see
  every customer with an order);
- ``churned`` (0/1), ``ltv`` (currency units, NaN where the cutoff is not an LTV
  cutoff);
- ``sample_key``: a number in [0, 1) from a hash of ``customer_id`` and the seed; the
  customer sample of rate ``r`` is ``sample_key < r`` at every cutoff, so a sampled
  customer keeps their whole history.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from features.contract.errors import EmptyTrainingSetError, OneOutcomeError
from features.contract.load import empty_tables
from features.contract.schema import CUSTOMER_ID
from features.contract.tables import Tables
from features.families.build import (
    CATEGORICAL_FEATURES,
    DEFAULT_WINDOWS,
    build_features,
    in_event_order,
)
from features.families.population import ACTIVE_DAYS
from features.families.purchase_days import PURCHASE_DAY_FEATURES
from features.io.atomic import write_table_atomic
from features.io.parallel import map_partitions
from features.io.partitioned import CustomerPartitions
from training.dataset import CutoffPlan
from training.labels import make_labels
from training.models.btyd import BTYDParams, fit_btyd, rfm_of_features

log = logging.getLogger(__name__)

LABELLED, SAMPLE_KEY = "labelled", "sample_key"
BTYD_MAX_ROWS = 50_000
"""Customers a BTYD fit reads at most per cutoff (a sample above it: population parameters)."""


@dataclass(frozen=True)
class SetSpec:
    """What :func:`partition_rows` builds: cutoffs, horizons, population and features.

    Attributes
    ----------
    cutoffs : tuple of Timestamp
        Every cutoff of the plans, oldest first.
    ltv_cutoffs : frozenset of Timestamp
        The cutoffs that carry the LTV label.
    data_end : Timestamp
        The end of the whole data (label horizons are checked against it).
    """

    cutoffs: tuple[pd.Timestamp, ...]
    ltv_cutoffs: frozenset[pd.Timestamp]
    data_end: pd.Timestamp
    horizon_days: int = 90
    ltv_horizon_days: int = 365
    active_days: int | None = ACTIVE_DAYS
    windows: tuple[int, ...] = DEFAULT_WINDOWS
    sla_hours: float = 48.0
    seed: int = 0

    @classmethod
    def of_plans(
        cls, churn_plan: CutoffPlan, ltv_plan: CutoffPlan, *, data_end: pd.Timestamp, **options
    ) -> SetSpec:
        """The rows both plans read: every cutoff, LTV labels at the LTV plan's.

        ``options``: the other fields (horizons, ``active_days``, windows, ...).
        """
        ltv = {*ltv_plan.train, *ltv_plan.refit_train, ltv_plan.validation}
        calibration = [] if churn_plan.calibration is None else [churn_plan.calibration]
        cutoffs = {
            *churn_plan.train,
            *churn_plan.refit_train,
            churn_plan.validation,
            *calibration,
            *ltv,
        }
        return cls(tuple(sorted(cutoffs)), frozenset(ltv), data_end, **options)


def sample_key(ids: pd.Series, seed: int) -> np.ndarray:
    """A uniform number in [0, 1) per customer id, fixed by ``seed``; float64, shape (n,)."""
    key = f"churn-sample{seed:04d}"[-16:]
    hashed = pd.util.hash_pandas_object(ids.astype(str), index=False, hash_key=key)
    return (hashed.to_numpy() >> np.uint64(11)).astype("float64") / float(1 << 53)


def partition_rows(tables: Tables, spec: SetSpec) -> pd.DataFrame:
    """The training-set rows of a set of whole customers (see the module doc).

    Returns
    -------
    DataFrame
        Sorted by cutoff, then ``customer_id``; the same columns for any ``tables``
        (none at all for no customer).
    """
    parts = []
    tables = in_event_order(tables)  # sorted once for every cutoff
    for cutoff in spec.cutoffs:
        features = build_features(
            tables, as_of=cutoff, windows=spec.windows, sla_hours=spec.sla_hours
        )
        labels = make_labels(
            tables,
            cutoff=cutoff,
            horizon_days=spec.horizon_days,
            ltv_horizon_days=spec.ltv_horizon_days if cutoff in spec.ltv_cutoffs else None,
            active_days=spec.active_days,
            data_end=spec.data_end,
        ).drop(columns="contract_type")
        if "ltv" not in labels:
            labels["ltv"] = np.nan
        rows = features.merge(labels, on=CUSTOMER_ID, how="left", validate="one_to_one")
        rows[LABELLED] = rows["churned"].notna()
        rows = rows.loc[rows[LABELLED] | (rfm_of_features(rows)["T"] > 0)]
        rows["churned"] = rows["churned"].astype("Int64")
        rows.insert(1, "cutoff", cutoff)
        parts.append(rows)
    out = pd.concat(parts, ignore_index=True)
    out[SAMPLE_KEY] = sample_key(out[CUSTOMER_ID], spec.seed)
    return out


def schema_of(spec: SetSpec, *, events: bool, id_type: pa.DataType) -> pa.Schema:
    """The Arrow schema of :func:`partition_rows` (from its output on no customer)."""
    rows = partition_rows(empty_tables(absent=frozenset() if events else {"events"}), spec)
    schema = pa.Schema.from_pandas(rows, preserve_index=False).remove_metadata()
    return schema.set(schema.get_field_index(CUSTOMER_ID), pa.field(CUSTOMER_ID, id_type))


def build_local(
    source: CustomerPartitions,
    spec: SetSpec,
    folder: str | os.PathLike[str],
    *,
    on_partition: Callable[[int, int], None] | None = None,
    workers: int = 1,
) -> TrainingSet:
    """Build the training set partition by partition into ``folder`` (made if missing).

    Each partition's tables are read once (:meth:`CustomerPartitions.read`) and its rows
    written as ``part-NNNNN.parquet`` through the atomic writer. Partitions read from
    files run on ``workers`` processes (the CLI gives the cores of the thread budget,
    :func:`features.compute.usable_cores`; a script needs the ``if __name__ ==
    "__main__":`` guard of :mod:`multiprocessing`'s spawn); peak memory is that of
    ``workers`` partitions.
    """
    folder = Path(folder)
    schema = schema_of(spec, events=source.has("events"), id_type=source.id_type)
    for done, _ in enumerate(
        map_partitions(source, _write_rows, spec, folder, schema, workers=workers), start=1
    ):
        if on_partition:
            on_partition(done, source.partitions)
    source.log_warnings()
    return TrainingSet(folder)


def _write_rows(tables: Tables, partition: int, spec: SetSpec, folder: Path, schema) -> Path:
    """The rows of one partition, written as ``folder/part-NNNNN.parquet``."""
    rows = pa.Table.from_pandas(partition_rows(tables, spec), schema=schema, preserve_index=False)
    return write_table_atomic(rows, folder / f"part-{partition:05d}.parquet", mkdir=True)


class TrainingSet:
    """The rows written by :func:`build_local` (or the Spark builder), read by cutoff.

    Parameters
    ----------
    folder : path
        The folder of Parquet part files (names starting ``_`` or ``.`` are skipped).
    """

    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = Path(folder)
        self.dataset = ds.dataset(self.folder, format="parquet")
        self._btyd: dict[pd.Timestamp, BTYDParams | None] = {}

    def count(self, cutoffs: Sequence[pd.Timestamp]) -> int:
        """Labelled rows at ``cutoffs``."""
        return self.dataset.count_rows(filter=self._at(cutoffs) & ds.field(LABELLED))

    def sample_rate(self, cutoffs: Sequence[pd.Timestamp], max_rows: int | None) -> float:
        """The customer-sample rate that keeps the rows at ``cutoffs`` near ``max_rows``."""
        rows = self.count(cutoffs)
        return 1.0 if max_rows is None or rows <= max_rows else max_rows / rows

    def frame(
        self, cutoffs: Sequence[pd.Timestamp], *, ltv: bool, rate: float = 1.0
    ) -> pd.DataFrame:
        """Labelled rows at ``cutoffs`` of the customers in the sample of ``rate``.

        ``customer_id``, ``cutoff``, the features, ``churned`` and (``ltv``) ``ltv``;
        sorted by cutoff, then ``customer_id``.
        """
        keep = self._at(cutoffs) & ds.field(LABELLED)
        if rate < 1.0:
            keep &= ds.field(SAMPLE_KEY) < rate
        drop = [LABELLED, SAMPLE_KEY] + ([] if ltv else ["ltv"])
        columns = [c for c in self.dataset.schema.names if c not in drop]
        frame = self.dataset.to_table(columns=columns, filter=keep).to_pandas()
        frame["churned"] = frame["churned"].astype("int64")
        for name in CATEGORICAL_FEATURES:  # as build_features types them, whatever wrote them
            frame[name] = frame[name].astype("string")
        frame["cutoff"] = pd.to_datetime(frame["cutoff"], utc=True).dt.as_unit("ns")
        return frame.sort_values(["cutoff", CUSTOMER_ID], kind="stable").reset_index(drop=True)

    def btyd_at(self, cutoff: pd.Timestamp) -> BTYDParams | None:
        """BG/NBD + Gamma-Gamma fitted at ``cutoff`` on the customers with an order.

        Every such customer up to :data:`BTYD_MAX_ROWS`, a customer sample above it.
        None when nobody has ordered yet. Remembered per cutoff.
        """
        if cutoff not in self._btyd:
            rate = min(1.0, BTYD_MAX_ROWS / max(1, self._rfm_rows(cutoff)))
            keep = self._at([cutoff])
            if rate < 1.0:
                keep &= ds.field(SAMPLE_KEY) < rate
            names = [CUSTOMER_ID, *PURCHASE_DAY_FEATURES]
            rows = self.dataset.to_table(columns=names, filter=keep).to_pandas()
            rfm = rfm_of_features(rows.sort_values(CUSTOMER_ID, kind="stable"))
            self._btyd[cutoff] = fit_btyd(rfm) if (rfm["T"] > 0).any() else None
        return self._btyd[cutoff]

    def _rfm_rows(self, cutoff: pd.Timestamp) -> int:
        return self.dataset.count_rows(filter=self._at([cutoff]))

    @staticmethod
    def _at(cutoffs: Sequence[pd.Timestamp]) -> ds.Expression:
        stamps = pa.array(
            [pd.Timestamp(t).as_unit("us") for t in cutoffs], pa.timestamp("us", "UTC")
        )
        return ds.field("cutoff").cast(pa.timestamp("us", "UTC")).isin(stamps)


def check_outcomes(churned: pd.Series, role: str, cutoffs) -> None:
    """Raise :class:`OneOutcomeError` when the churn labels ``churned`` are all alike."""
    values = churned.unique()
    if len(values) < 2:
        raise OneOutcomeError(
            role, [f"{c:%Y-%m-%d}" for c in cutoffs], len(churned), bool(values[0])
        )


def check_not_empty(training_set: TrainingSet, spec: SetSpec, customers: int) -> None:
    """Raise :class:`EmptyTrainingSetError` when no cutoff has a labelled row."""
    if not training_set.count(spec.cutoffs):
        raise EmptyTrainingSetError(
            [f"{c:%Y-%m-%d}" for c in spec.cutoffs], customers, spec.active_days
        )
