"""Vectorised PyTorch counterpart of examples/bench_la_step.rs: one Local Aggregation step
without the network (neighbour search, close-neighbour mask, loss, backward into the
embeddings, bank update) for N = 14,400, D = 512, B = 128, H = 6, k = 100 and 4096, on CPU:
median wall-clock milliseconds per part and per step, and the mean CPU time of the process
per step (step_cpu_ms).
The loss follows the reference (LocalAggregationLossModule in src/objectives/localagg.py of
neuroailab/LocalAggregation-Pytorch) without its per-clustering Python loop.

    python3 crates/la-train/scripts/bench_la_step.py [--reps N] [--threads T]
"""
import argparse
import json
import time

import torch

N, D, B, H, CLUSTERS = 14_400, 512, 128, 6, 200


def step(bank, labels, items, v, k, tau=0.07, m=0.5, eps=1e-7):
    cpu0 = time.process_time()
    times = [time.perf_counter()]
    sims = v @ bank.T
    back_sims, back_idx = torch.topk(sims, k, dim=1)
    times.append(time.perf_counter())
    with torch.no_grad():
        close = (labels[:, back_idx] == labels[:, items].unsqueeze(2)).any(dim=0)
    times.append(time.perf_counter())
    z = back_sims / tau
    e = torch.exp(z - z.max(dim=1, keepdim=True).values.detach())
    ratio = (e * close).sum(dim=1) / e.sum(dim=1)
    loss = -torch.log(ratio + eps).mean()
    loss.item()
    times.append(time.perf_counter())
    loss.backward()
    v.grad.sum().item()
    times.append(time.perf_counter())
    with torch.no_grad():
        new = torch.nn.functional.normalize((1 - m) * bank[items] + m * v.detach(), dim=1)
        bank.index_copy_(0, items, new)
    times.append(time.perf_counter())
    cpu = 1e3 * (time.process_time() - cpu0)
    return [1e3 * (b - a) for a, b in zip(times, times[1:])] + [1e3 * (times[-1] - times[0]), cpu]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    bank = torch.nn.functional.normalize(torch.randn(N, D, generator=g), dim=1)
    labels = torch.randint(0, CLUSTERS, (H, N), generator=g)
    names = ["search", "mask", "loss", "backward", "update", "step"]
    for k in (100, 4096):
        parts = []
        for rep in range(args.reps + 2):
            items = torch.randperm(N, generator=g)[:B]
            noise = 0.02 * torch.randn(B, D, generator=g)
            v = torch.nn.functional.normalize(bank[items] + noise, dim=1).requires_grad_()
            t = step(bank, labels, items, v, k)
            if rep >= 2:
                parts.append(t)
        med = {f"{n}_ms": round(sorted(p[i] for p in parts)[len(parts) // 2], 2) for i, n in enumerate(names)}
        med["step_cpu_ms"] = round(sum(p[-1] for p in parts) / len(parts), 2)
        print(json.dumps({"impl": "pytorch", "n": N, "d": D, "batch": B, "k": k,
                          "threads": torch.get_num_threads(), **med}))


if __name__ == "__main__":
    main()
