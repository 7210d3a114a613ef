#!/usr/bin/env python3
"""The scikit-learn side of la-cluster's benchmark (examples/bench_kmeans.rs).

    python3 crates/la-cluster/scripts/bench_sklearn.py [fashion|knn|la|all]

Same data and settings as the Rust example: Fashion-MNIST from Debian's dataset-fashion-mnist
(LA_FASHION_MNIST overrides the directory), pixels scaled to [0, 1]. Prints one JSON object per
measurement, with the Rust example's keys (impl "sklearn").
"""
import gzip
import json
import os
import sys
import time

import numpy as np
import sklearn
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix
from sklearn.neighbors import KNeighborsClassifier
from scipy.optimize import linear_sum_assignment
from threadpoolctl import threadpool_info

DIR = os.environ.get("LA_FASHION_MNIST", "/usr/share/datasets/fashion-mnist")


def idx(name):
    with gzip.open(os.path.join(DIR, name)) as f:
        b = f.read()
    rank = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(b[4 + 4 * rank:], dtype=np.uint8).reshape(dims)


def fashion(split):
    x = idx(f"{split}-images-idx3-ubyte.gz")
    x = x.reshape(len(x), -1).astype(np.float32) / 255.0
    return x, idx(f"{split}-labels-idx1-ubyte.gz").astype(np.int64)


def acc(truth, pred):
    c = contingency_matrix(truth, pred)
    r, k = linear_sum_assignment(c, maximize=True)
    return c[r, k].sum() / len(truth)


def cpu_seconds():
    t = os.times()
    return t.user + t.system


def fashion_kmeans():
    x, y = fashion("t10k")
    print(f"\nKMeans, Fashion-MNIST test split {x.shape}, k = 10, n_init = 10 (k-means++)")
    for seed in range(3):
        t, c = time.perf_counter(), cpu_seconds()
        km = KMeans(n_clusters=10, n_init=10, random_state=seed).fit(x)
        s, cs = time.perf_counter() - t, cpu_seconds() - c
        l = km.labels_
        print(json.dumps({"bench": "fashion_kmeans", "impl": "sklearn", "seed": seed, "s": s,
                          "cpu_s": cs, "iterations": int(km.n_iter_), "inertia": float(km.inertia_),
                          "acc": float(acc(y, l)), "nmi": float(normalized_mutual_info_score(y, l)),
                          "ari": float(adjusted_rand_score(y, l))}), flush=True)


def fashion_knn():
    x, y = fashion("train")
    q, qy = fashion("t10k")
    print(f"\nweighted kNN by cosine (k = 200, tau = 0.07), test {q.shape} against train {x.shape}")
    knn = KNeighborsClassifier(n_neighbors=200, metric="cosine", algorithm="brute",
                               weights=lambda d: np.exp((1.0 - d) / 0.07))
    t, c = time.perf_counter(), cpu_seconds()
    pred = knn.fit(x, y).predict(q)
    s, cs = time.perf_counter() - t, cpu_seconds() - c
    print(json.dumps({"bench": "knn", "impl": "sklearn", "classifier": "weighted kNN, k = 200, tau = 0.07",
                      "accuracy": float(np.mean(pred == qy)), "s": s, "cpu_s": cs}), flush=True)


def la_clusterings():
    rng = np.random.default_rng(0)
    bank = rng.standard_normal((14_400, 512)).astype(np.float32)
    bank /= np.linalg.norm(bank, axis=1, keepdims=True)
    print(f"\n6 clusterings x 100 clusters of {bank.shape} unit vectors (n_init = 1 each)")
    settings = [
        ("k-means++, tol 1e-4, max_iter 300", dict()),
        ("random init, max_iter 20 (faiss/LA)", dict(init="random", max_iter=20)),
        ("random init, tol 1e-4, max_iter 300", dict(init="random")),
    ]
    for name, kw in settings:
        t, c = time.perf_counter(), cpu_seconds()
        models = [KMeans(n_clusters=100, n_init=1, random_state=s, **kw).fit(bank) for s in range(6)]
        s, cs = time.perf_counter() - t, cpu_seconds() - c
        iters = [int(m.n_iter_) for m in models]
        inertia = float(np.mean([m.inertia_ for m in models]))
        print(json.dumps({"bench": "la_clusterings", "impl": "sklearn", "setting": name, "s": s,
                          "cpu_s": cs, "iterations": iters, "inertia": inertia}), flush=True)


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    threads = {p["internal_api"]: p["num_threads"] for p in threadpool_info()}
    print(f"scikit-learn {sklearn.__version__}, threads {threads}")
    if what in ("fashion", "all"):
        fashion_kmeans()
    if what in ("knn", "all"):
        fashion_knn()
    if what in ("la", "all"):
        la_clusterings()


if __name__ == "__main__":
    main()
