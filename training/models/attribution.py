"""Path attributions of a LightGBM booster: per-feature contributions at the cost of a predict.

LightGBM's ``pred_contrib`` computes exact TreeSHAP values, O(leaves × depth²) per
tree and row: on the churn model about 40× a plain predict, which made reasons the
most expensive part of scoring. Path attribution (Saabas; XGBoost's
``approx_contribs``) credits each split on a row's root-to-leaf path with the change
it makes to the expected score: ``E[score | child] − E[score | node]``, expectations
weighted by the training rows that reached each node (the same weights TreeSHAP
uses). Per tree this is a fixed vector per leaf, so a row's contributions are the sum
over trees of its leaves' vectors: one ``pred_leaf`` call and a sparse product.

Like TreeSHAP, the contributions plus the bias add up to the raw score exactly
(local accuracy), and the bias is the same expected score. Unlike TreeSHAP, a
feature's credit depends on where in the path its split sits; on the churn model
the two agree on ≈ 88 % of the top-3 features of the riskiest fifth of customers.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import scipy.sparse as sp

from features.compute import predict


@dataclass(frozen=True)
class PathAttribution:
    """Per-leaf contribution vectors of every tree of a booster.

    Attributes
    ----------
    table : scipy.sparse.csr_matrix, shape (total leaves, n_features)
        Row ``offsets[t] + leaf`` is the contribution vector of ``leaf`` of tree ``t``
        (raw-score units, log-odds for a binary booster).
    offsets : ndarray of int64, shape (n_trees,)
        First table row of each tree.
    bias : float
        Expected raw score over the training rows (the sum of the trees' root means).
    num_iteration : int or None
        The iterations the table covers, as passed to ``Booster.predict``.
    """

    table: sp.csr_matrix
    offsets: np.ndarray
    bias: float
    num_iteration: int | None

    @classmethod
    def of(cls, booster: lgb.Booster, num_iteration: int | None = None) -> PathAttribution:
        """Build the table from ``booster.dump_model`` (milliseconds for a few hundred trees)."""
        dump = booster.dump_model(num_iteration=num_iteration)
        n_features = len(dump["feature_names"])
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        offsets, total, bias = [], 0, 0.0
        for tree in dump["tree_info"]:
            offsets.append(total)
            root = tree["tree_structure"]
            means = _subtree_means(root)
            bias += means[id(root)]
            stack = [(root, {})]
            while stack:
                node, credit = stack.pop()
                if "split_feature" not in node:
                    leaf = total + node.get("leaf_index", 0)
                    rows += [leaf] * len(credit)
                    cols += list(credit)
                    vals += list(credit.values())
                    continue
                feature, here = node["split_feature"], means[id(node)]
                for child in (node["left_child"], node["right_child"]):
                    moved = dict(credit)
                    moved[feature] = moved.get(feature, 0.0) + means[id(child)] - here
                    stack.append((child, moved))
            total += tree["num_leaves"]
        table = sp.csr_matrix((vals, (rows, cols)), shape=(total, n_features), dtype="float64")
        return cls(table, np.asarray(offsets, dtype="int64"), bias, num_iteration)

    def contributions(self, booster: lgb.Booster, X) -> np.ndarray:
        """Per-feature contributions, float64 shape (n_rows, n_features).

        ``X`` is the model matrix ``booster.predict`` takes; each row sums, with
        :attr:`bias`, to the raw score.
        """
        leaves = predict(booster, X, pred_leaf=True, num_iteration=self.num_iteration)
        leaves = np.asarray(leaves, dtype="int64").reshape(len(leaves), -1)
        n, trees = leaves.shape
        indicator = sp.csr_matrix(
            (
                np.ones(n * trees),
                (leaves + self.offsets[:trees]).ravel(),
                np.arange(0, n * trees + 1, trees),
            ),
            shape=(n, self.table.shape[0]),
        )
        return (indicator @ self.table).toarray()


def _subtree_means(root: dict) -> dict[int, float]:
    """``{id(node): training-row-weighted mean leaf value under node}`` for a dumped tree."""
    means: dict[int, float] = {}
    counts: dict[int, float] = {}
    stack, order = [root], []
    while stack:  # parents before children; walked backwards below
        node = stack.pop()
        order.append(node)
        if "split_feature" in node:
            stack += [node["left_child"], node["right_child"]]
    for node in reversed(order):
        if "split_feature" not in node:
            means[id(node)], counts[id(node)] = node["leaf_value"], node.get("leaf_count", 1)
            continue
        left, right = id(node["left_child"]), id(node["right_child"])
        count = counts[left] + counts[right]
        means[id(node)] = (
            (means[left] * counts[left] + means[right] * counts[right]) / count
            if count
            else (means[left] + means[right]) / 2
        )
        counts[id(node)] = count
    return means
