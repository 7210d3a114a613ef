"""PyTorch eager on the GPU, the reference for la-gpu-check's timings: the full-width VGG16-bn
SegNet auto-encoder training step (forward in training mode, MSE, backward, SGD with momentum
0.9 and weight decay 1e-4) with PyTorch's default precision (TF32 convolutions, as
torch.backends.cudnn.allow_tf32 = True by default) and in strict fp32, and torch.topk over
128 x 1.28M, k = 4096. One JSON object per line, medians of --reps after two warm-ups.

python3 crates/la-gpu-check/scripts/bench_pytorch.py [--batch 64] [--side 224] [--reps 5]
"""
import argparse
import json
import os
import sys
import time

import torch
from torch import nn

# The same network as la-segnet's CPU benchmark: one definition.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../la-segnet/scripts"))
from bench_ae_step import AutoEncoder  # noqa: E402


def median_ms(fn, reps):
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    return sorted(times)[len(times) // 2]


def ae_step(batch, side, reps, tf32):
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    model = AutoEncoder().cuda().train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(batch, 3, side, side, device="cuda")

    def step():
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.mse_loss(model(x), x)
        loss.backward()
        opt.step()

    ms = median_ms(step, reps)
    del model, opt, x
    torch.cuda.empty_cache()
    return ms


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--side", type=int, default=224)
    p.add_argument("--reps", type=int, default=5)
    a = p.parse_args()
    gpu = torch.cuda.get_device_name()
    x = torch.randn(128, 1_280_000, device="cuda")
    ms = median_ms(lambda: torch.topk(x, 4096), 4 * a.reps)
    print(json.dumps({"op": "topk", "shape": "128x1280000", "k": 4096, "impl": "pytorch",
                      "gpu": gpu, "ms": round(ms, 2)}), flush=True)
    del x
    for tf32 in (True, False):
        ms = ae_step(a.batch, a.side, a.reps, tf32)
        print(json.dumps({"op": "ae_train_step", "shape": f"{a.batch}x3x{a.side}x{a.side}",
                          "impl": "pytorch", "conv_precision": "tf32" if tf32 else "fp32",
                          "gpu": gpu, "ms": round(ms, 1)}), flush=True)


if __name__ == "__main__":
    main()
