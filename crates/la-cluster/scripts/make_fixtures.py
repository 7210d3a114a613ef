#!/usr/bin/env python3
"""Writes the scikit-learn fixtures of la-cluster's tests (tests/fixtures/*.json).

Run from anywhere: python3 crates/la-cluster/scripts/make_fixtures.py
Needs numpy, scipy and scikit-learn (the versions used are recorded in the files).
"""
import json
import pathlib

import numpy as np
import scipy
import sklearn
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures"
VERSIONS = {"sklearn": sklearn.__version__, "scipy": scipy.__version__, "numpy": np.__version__}


def acc(truth, pred):
    """Clustering accuracy: best one-to-one matching of clusters to classes (rectangular)."""
    c = contingency_matrix(truth, pred)
    rows, cols = linear_sum_assignment(c, maximize=True)
    return c[rows, cols].sum() / len(truth)


def purity(truth, pred):
    c = contingency_matrix(truth, pred)
    return c.max(axis=0).sum() / len(truth)


def metric_cases():
    rng = np.random.default_rng(0)
    cases = []
    # (samples, classes, clusters, label offset/scale to test arbitrary label values)
    shapes = [(1, 1, 1), (2, 1, 2), (5, 2, 2), (10, 3, 5), (17, 4, 2), (50, 10, 10),
              (64, 2, 9), (100, 5, 3), (150, 7, 12), (200, 12, 4), (300, 3, 3), (400, 20, 25)]
    for i, (n, k_true, k_pred) in enumerate(shapes):
        truth = rng.integers(0, k_true, n)
        pred = rng.integers(0, k_pred, n)
        if i % 3 == 1:
            # Predictions correlated with the truth, so the metrics are not all near 0.
            keep = rng.random(n) < 0.6
            pred = np.where(keep, truth % k_pred, pred)
        if i % 4 == 2:
            pred = pred * 7 + 3  # labels need not be 0..k
        cases.append((truth, pred))
    # Special cases: identical, renamed, one cluster, all singletons.
    t = rng.integers(0, 4, 30)
    cases += [(t, t), (t, (t + 1) % 4 * 10), (t, np.zeros(30, int)), (t, np.arange(30))]
    out = []
    for truth, pred in cases:
        out.append({
            "truth": truth.tolist(), "pred": pred.tolist(),
            "acc": float(acc(truth, pred)),
            "nmi": float(normalized_mutual_info_score(truth, pred)),
            "ari": float(adjusted_rand_score(truth, pred)),
            "purity": float(purity(truth, pred)),
        })
    return out


def kmeans_cases():
    out = []
    x, _ = make_blobs(n_samples=300, n_features=4, centers=5, cluster_std=2.5, random_state=3)
    uniform = np.random.default_rng(1).random((200, 3))
    for name, data, k in [("overlapping blobs", x, 5), ("uniform cube", uniform, 8)]:
        data = np.round(data.astype(np.float32), 5)
        km = KMeans(n_clusters=k, n_init=10, random_state=0).fit(data)
        out.append({"name": name, "k": k, "n_init": 10, "x": data.tolist(),
                    "inertia": float(km.inertia_)})
    return out


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, cases in [("metrics.json", metric_cases()), ("kmeans.json", kmeans_cases())]:
        path = OUT / name
        path.write_text(json.dumps({"generator": "scripts/make_fixtures.py",
                                    "versions": VERSIONS, "cases": cases}) + "\n")
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
