"""The f32 matrix-product speed numpy's BLAS (OpenBLAS) reaches on this machine, as the ceiling
for la's products: the Local Aggregation step's 128 x 512 x 14,400 similarity product and a
2048^3 square product. Prints one JSON line each (median ms of 20 runs, GFLOP/s).

    OPENBLAS_NUM_THREADS=2 python3 crates/la-ops/scripts/bench_gemm_numpy.py
"""

import json
import time

import numpy as np


def median_ms(f, runs=20):
    f()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        f()
        times.append((time.perf_counter() - start) * 1e3)
    return sorted(times)[len(times) // 2]


def main():
    rng = np.random.default_rng(0)
    v = rng.random((128, 512), dtype=np.float32)
    bank = rng.random((14400, 512), dtype=np.float32)
    square = rng.random((2048, 2048), dtype=np.float32)
    for name, f, flop in [
        ("128x512 @ 512x14400", lambda: v @ bank.T, 2 * 128 * 512 * 14400),
        ("2048^3", lambda: square @ square, 2 * 2048**3),
    ]:
        ms = median_ms(f)
        print(json.dumps({"product": name, "numpy": np.__version__, "ms": round(ms, 2),
                          "gflops": round(flop / ms / 1e6, 1)}), flush=True)


if __name__ == "__main__":
    main()
