#!/usr/bin/env python3
"""torch.topk on the shapes of `bench_kmeans topk`, for comparison with la-ops' top-k.

    python3 crates/la-cluster/scripts/bench_topk_torch.py
"""
import time

import torch

torch.set_num_threads(2)
print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, median of 5")
print("rows x columns          k      ms")
for rows, cols, k in [(1, 1 << 20, 10), (1, 1 << 20, 4096), (128, 14_400, 4096),
                      (128, 100_000, 4096), (1000, 16_384, 200)]:
    x = torch.rand(rows, cols)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        torch.topk(x, k, dim=-1)
        times.append(time.perf_counter() - start)
    print(f"{f'{rows} x {cols}':<20} {k:>5}  {sorted(times)[2] * 1e3:>6.2f}")
