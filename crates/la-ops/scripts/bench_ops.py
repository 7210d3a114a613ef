"""PyTorch CPU timings of the ops that examples/bench_ops.rs times, same shapes, same output
format (one JSON object per line, impl "pytorch"). Needs torch; CI does not run it.

python3 crates/la-ops/scripts/bench_ops.py [--reps N] [--threads 2]
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F

BATCH = 16
# (batch, in, out, side): the VGG stages at 64 x 64, the auto-encoder's first and last layers,
# then small planes of the default recipe (VGG11-bn at 1/8 width, two views of 128 at 32 px).
CONVS = [(BATCH, 64, 64, 64), (BATCH, 128, 128, 32), (BATCH, 256, 256, 16), (BATCH, 512, 512, 8),
         (BATCH, 3, 64, 64), (BATCH, 64, 3, 64),
         (256, 32, 32, 8), (256, 64, 64, 4), (256, 64, 64, 2)]
GEMMS = [(64, 576, 1792), (128, 1152, 1024), (256, 2304, 256), (512, 4608, 256),
         (128, 512, 14400), (128, 14400, 512)]


MIN_TOTAL_MS = 200.0  # sub-millisecond ops get enough runs for a steady median (as in Rust)


def timed(reps, f):
    start = time.perf_counter()
    f()
    warm_up = (time.perf_counter() - start) * 1e3
    runs = max(reps, int(min(1000.0, -(-MIN_TOTAL_MS // max(warm_up, 1e-3)))))
    ms = []
    for _ in range(runs):
        start = time.perf_counter()
        f()
        ms.append((time.perf_counter() - start) * 1e3)
    return sorted(ms)[len(ms) // 2]


def report(op, shape, ms, gflop=None):
    record = {"op": op, "shape": shape, "impl": "pytorch", "ms": round(ms, 3)}
    if gflop is not None:
        record["gflop"] = round(gflop, 4)
    print(json.dumps(record), flush=True)


def conv_backward(g, x, w, mask):
    return torch.ops.aten.convolution_backward(
        g, x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, mask)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    r = a.reps
    for m, k, n in GEMMS:
        lhs = torch.randn(m, k)
        # The right operand row-major, then a transposed view of a row-major (n, k) matrix.
        for rhs, suffix in ((torch.randn(k, n), ""), (torch.randn(n, k).t(), ", B transposed")):
            ms = timed(r, lambda: torch.mm(lhs, rhs))
            report("gemm", f"{m}x{k}x{n}{suffix}", ms, 2 * m * k * n / 1e9)
    for batch, ci, co, side in CONVS:
        shape = f"{ci}->{co}@{side}" + ("" if batch == BATCH else f", batch {batch}")
        x = time_convs(r, shape, (batch, ci, co, side), torch.float32)
        if ci == co:
            norm_and_pool(r, x)
    if torch.ops.mkldnn._is_mkldnn_bf16_supported():
        # The batch-16 VGG layers again on bf16 tensors (oneDNN's bf16 kernels, f32 sums), as
        # bench_ops.rs times them with bf16 products.
        for batch, ci, co, side in CONVS:
            if batch == BATCH and ci == co:
                shape = f"{ci}->{co}@{side}, bf16 products"
                time_convs(r, shape, (batch, ci, co, side), torch.bfloat16)


def time_convs(r, shape, sizes, dtype):
    """Times the four convolution ops of one layer on random tensors of `dtype`, reports them
    under `shape` and returns the input."""
    batch, ci, co, side = sizes
    gflop = 2 * batch * ci * co * 9 * side * side / 1e9
    x = torch.randn(batch, ci, side, side, dtype=dtype)
    w, wt = torch.randn(co, ci, 3, 3, dtype=dtype), torch.randn(ci, co, 3, 3, dtype=dtype)
    b, g = torch.randn(co, dtype=dtype), torch.randn(batch, co, side, side, dtype=dtype)
    report("conv_fwd", shape, timed(r, lambda: F.conv2d(x, w, b, padding=1)), gflop)
    report("conv_input_grad", shape,
           timed(r, lambda: conv_backward(g, x, w, [True, False, False])), gflop)
    report("conv_weight_grad", shape,
           timed(r, lambda: conv_backward(g, x, w, [False, True, False])), gflop)
    report("convT_fwd", shape, timed(r, lambda: F.conv_transpose2d(x, wt, b, padding=1)), gflop)
    return x


def norm_and_pool(r, x):
    n, c, h, w = x.shape
    shape = f"{c}@{h}" + ("" if n == BATCH else f", batch {n}")
    xg = x.clone().requires_grad_(True)
    weight = torch.ones(c, requires_grad=True)
    bias = torch.zeros(c, requires_grad=True)
    rm, rv = torch.zeros(c), torch.ones(c)

    def bn():
        y = F.relu(F.batch_norm(xg, rm, rv, weight, bias, training=True))
        y.backward(torch.ones_like(y))

    report("bn_relu_train_fwd_bwd", shape, timed(r, bn))

    def pool():
        y, _ = F.max_pool2d(xg, 2, return_indices=True)
        y.backward(torch.ones_like(y))

    report("pool_fwd_bwd", shape, timed(r, pool))
    with torch.no_grad():
        pooled, idx = F.max_pool2d(x, 2, return_indices=True)
    pv = pooled.clone().requires_grad_(True)

    def unpool():
        y = F.max_unpool2d(pv, idx, 2, output_size=(h, w))
        y.backward(torch.ones_like(y))

    report("unpool_fwd_bwd", shape, timed(r, unpool))


if __name__ == "__main__":
    main()
