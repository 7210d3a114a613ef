#!/usr/bin/env python3
"""torch.topk on the shapes of `bench_kmeans topk`, for comparison with la-ops' top-k.

    python3 crates/la-cluster/scripts/bench_topk_torch.py [--reps N]

Prints one JSON object per shape, with the keys of `bench_kmeans topk` (impl "torch").
"""
import json
import sys
import time

import torch

reps = int(sys.argv[sys.argv.index("--reps") + 1]) if "--reps" in sys.argv else 5
torch.set_num_threads(2)
print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, median of {reps}")
for rows, cols, k in [(1, 1 << 20, 10), (1, 1 << 20, 4096), (128, 14_400, 4096),
                      (128, 100_000, 4096), (1000, 16_384, 200)]:
    x = torch.rand(rows, cols)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        torch.topk(x, k, dim=-1)
        times.append(time.perf_counter() - start)
    ms = sorted(times)[len(times) // 2] * 1e3
    print(json.dumps({"bench": "topk", "impl": "torch", "rows": rows, "cols": cols, "k": k, "ms": ms}),
          flush=True)
