"""The thread budget honours the affinity mask and the cgroup CPU quota (both faked here)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from features import compute
from features.compute import (
    SMALL_ROWS,
    budget_record,
    cgroup_quota,
    set_threads,
    thread_budget,
    usable_cores,
)
from features.contract.errors import ConfigError
from training.models.churn import lgb_params


@pytest.fixture
def host(tmp_path, monkeypatch):
    """A fake host: an affinity mask of ``cpus`` CPUs and a cgroup folder to write quotas in."""

    def make(cpus: int, *, v2: str | None = None, v1: tuple[int, int] | None = None):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)))
        root = tmp_path / f"cgroup-{cpus}-{v2}-{v1}"
        root.mkdir()
        if v2 is not None:
            (root / "cpu.max").write_text(v2 + "\n")
        if v1 is not None:
            (root / "cpu").mkdir()
            (root / "cpu" / "cpu.cfs_quota_us").write_text(f"{v1[0]}\n")
            (root / "cpu" / "cpu.cfs_period_us").write_text(f"{v1[1]}\n")
        return root

    set_threads(None)
    yield make
    set_threads(None)


class TestUsableCores:
    def test_affinity_mask_without_quota(self, host):
        root = host(3, v2="max 100000")
        assert usable_cores(cgroup_root=root).usable == 3
        assert usable_cores(cgroup_root=root).quota is None

    def test_cgroup_v2_quota_rounds_up(self, host):
        root = host(8, v2="150000 100000")  # 1.5 cores
        cores = usable_cores(cgroup_root=root)
        assert (cores.usable, cores.affinity, cores.quota) == (2, 8, 1.5)
        assert cores.source == "cgroup quota 1.5 cores"

    def test_cgroup_v1_quota(self, host):
        root = host(16, v1=(400000, 100000))
        assert usable_cores(cgroup_root=root).usable == 4

    def test_v1_unlimited(self, host):
        root = host(4, v1=(-1, 100000))
        assert cgroup_quota(root) is None
        assert usable_cores(cgroup_root=root).usable == 4

    def test_mask_smaller_than_quota(self, host):
        root = host(1, v2="400000 100000")
        cores = usable_cores(cgroup_root=root)
        assert cores.usable == 1
        assert cores.source == "affinity mask 1 cpus"

    def test_tiny_quota_is_one_core(self, host):
        root = host(4, v2="10000 100000")
        assert usable_cores(cgroup_root=root).usable == 1

    def test_malformed_quota_is_ignored(self, host):
        root = host(2, v2="garbage")
        assert usable_cores(cgroup_root=root).usable == 2


class TestThreadBudget:
    def test_small_fits_run_on_one_thread(self, host):
        root = host(8, v2="max 100000")
        assert thread_budget(SMALL_ROWS - 1, cgroup_root=root) == 1
        assert thread_budget(SMALL_ROWS, cgroup_root=root) == 8
        assert thread_budget(None, cgroup_root=root) == 8

    def test_override_wins(self, host):
        root = host(8, v2="200000 100000")
        set_threads(3)
        assert thread_budget(10, cgroup_root=root) == 3
        assert budget_record(cgroup_root=root)["compute.threads_source"] == "[compute] threads"

    def test_override_refuses_zero(self):
        with pytest.raises(ConfigError, match="compute.threads"):
            set_threads(0)

    def test_record_names_the_quota(self, host):
        root = host(8, v2="200000 100000")
        record = budget_record(cgroup_root=root)
        assert record["compute.threads"] == 2
        assert record["compute.cgroup_quota"] == "2"
        assert record["compute.threads_source"] == "cgroup quota 2 cores"

    def test_lgb_params_take_the_budget(self, host, monkeypatch):
        root = host(6, v2="300000 100000")
        monkeypatch.setattr(compute, "CGROUP_ROOT", root)
        assert lgb_params(None, 0, rows=1_000)["num_threads"] == 1
        assert lgb_params(None, 0, rows=10 * SMALL_ROWS)["num_threads"] == 3
        assert lgb_params({"num_threads": 5}, 0, rows=1_000)["num_threads"] == 5


def test_predict_runs_on_the_budget(host):
    """A booster fit on 2 threads predicts a few rows on one (the thread count is passed)."""
    import lightgbm as lgb

    calls = []

    class Spy(lgb.Booster):
        def predict(self, X, **kwargs):
            calls.append(kwargs.get("num_threads"))
            return super().predict(X, **kwargs)

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = (X["a"] > 0).astype(int)
    booster = lgb.train(
        {"objective": "binary", "verbosity": -1, "num_threads": 2}, lgb.Dataset(X, y), 5
    )
    spy = Spy(model_str=booster.model_to_string())
    out = compute.predict(spy, X.head(3))
    assert calls == [1]
    assert out.shape == (3,)
