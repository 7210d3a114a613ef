#!/usr/bin/env python3
"""The Python side of la-data's decoding benchmark: the same work as
`cargo run --release -p la-data --example bench_decode`, with Pillow and torchvision.

    # Rust first, keeping its generated JPEGs, then Python on the same files:
    cargo run --release -p la-data --example bench_decode -- --dir /tmp/la-bench --threads 2
    python3 crates/la-data/scripts/bench_decode.py --dir /tmp/la-bench --workers 2

    # Or JPEGs written by Pillow (4:2:0 chroma subsampling, like most cameras), for both:
    python3 crates/la-data/scripts/bench_decode.py --dir /tmp/la-bench-pil --generate 500
    cargo run --release -p la-data --example bench_decode -- --dir /tmp/la-bench-pil

Measures images per second (best of --repeat passes, files already in the page cache) and
images per CPU-second (user + system time of this process and its workers over all passes, a
measure that other load on the machine changes little):
  pillow       Image.open + convert("RGB") + resize of the shorter side to 224 (BILINEAR, as
               torchvision's Resize on PIL images) + centre crop + np.asarray, in a
               multiprocessing pool of --workers processes;
  torchvision  a DataLoader (num_workers=--workers, batch 64) over a dataset applying
               Resize(224), CenterCrop(224), ToTensor(), Normalize(ImageNet), i.e. what the
               PyTorch reference trains with.
With --json, one JSON object per line (impl, images, workers, side, passes, per_s, per_cpu_s),
for `cargo xtask bench data`; --no-torchvision leaves torchvision out (Pillow alone).
"""
import argparse
import json
import multiprocessing as mp
import pathlib
import resource
import time

import numpy as np
from PIL import Image

SIDE = 224


def pillow_one(path):
    img = Image.open(path).convert("RGB")
    w, h = img.size
    if w <= h:
        size = (SIDE, int(SIDE * h / w))
    else:
        size = (int(SIDE * w / h), SIDE)
    img = img.resize(size, Image.BILINEAR)
    left = int(round((size[0] - SIDE) / 2.0))
    top = int(round((size[1] - SIDE) / 2.0))
    return np.asarray(img.crop((left, top, left + SIDE, top + SIDE))).shape


def cpu_seconds():
    """User + system time of this process and of its finished child processes."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        total += r.ru_utime + r.ru_stime
    return total


def best_rate(n, repeat, fn):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return n / best


def pillow_rates(files, workers, repeat):
    """Wall rate of the best pass; CPU rate over all passes (workers are joined first, so
    that their time is counted), pool start-up included."""
    cpu = cpu_seconds()
    with mp.Pool(workers) as pool:
        wall = best_rate(len(files), repeat, lambda: pool.map(pillow_one, files, chunksize=8))
        pool.close()
        pool.join()
    return wall, len(files) * repeat / (cpu_seconds() - cpu)


class Folder:
    """A map-style dataset of image files with torchvision's evaluation transform."""

    def __init__(self, files):
        import torchvision.transforms as T

        self.files = files
        self.transform = T.Compose([
            T.Resize(SIDE),
            T.CenterCrop(SIDE),
            T.ToTensor(),
            T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ])

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        return self.transform(Image.open(self.files[i]).convert("RGB")), i


def worker_init(_):
    import torch

    torch.set_num_threads(1)


def torchvision_rates(files, workers, repeat):
    import torch

    torch.set_num_threads(workers)
    cpu = cpu_seconds()
    loader = torch.utils.data.DataLoader(
        Folder(files), batch_size=64, num_workers=workers, worker_init_fn=worker_init,
        persistent_workers=workers > 0,
    )

    def run():
        for images, _ in loader:
            assert images.shape[1:] == (3, SIDE, SIDE)

    wall = best_rate(len(files), repeat, run)
    del loader  # ends the persistent workers, so that their CPU time is counted
    import gc

    gc.collect()
    time.sleep(0.5)
    return wall, len(files) * repeat / (cpu_seconds() - cpu)


def generate(directory, n, width, height):
    """Photo-like JPEGs (gradients, discs, noise) written by Pillow at quality 90."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    for k in range(n):
        img = np.stack([x / width * 200, y / height * 180, np.sin((x + y) * 0.02 + k) * 60 + 100], -1)
        for _ in range(6):
            cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(40, 200)
            img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = rng.integers(0, 256, 3)
        img += rng.integers(-12, 13, img.shape)
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(directory / f"img{k:05}.jpg", quality=90)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=pathlib.Path, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--generate", type=int, metavar="N", help="first write N JPEGs into --dir")
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=768)
    parser.add_argument("--json", action="store_true", help="JSON lines instead of text")
    parser.add_argument("--no-torchvision", action="store_true", help="measure Pillow only")
    args = parser.parse_args()
    if args.generate:
        generate(args.dir, args.generate, args.width, args.height)
    files = sorted(str(p) for p in args.dir.iterdir() if p.suffix.lower() == ".jpg")
    assert files, f"no .jpg in {args.dir}"
    for f in files:  # page cache
        pathlib.Path(f).read_bytes()
    pillow = pillow_rates(files, args.workers, args.repeat)
    tv = None if args.no_torchvision else torchvision_rates(files, args.workers, args.repeat)
    if args.json:
        for name, r in (("pillow", pillow), ("torchvision", tv)):
            if r is not None:
                print(json.dumps({"impl": name, "images": len(files), "workers": args.workers, "side": SIDE,
                                  "passes": args.repeat, "per_s": r[0], "per_cpu_s": r[1]}), flush=True)
        return
    print(f"images: {len(files)} in {args.dir}")
    print(f"workers: {args.workers}, side: {SIDE}, best of {args.repeat} passes")
    show = lambda r: f"{r[0]:.1f} images/s, {r[1]:.1f} images per CPU-second"
    print(f"pillow      (decode + resize + centre crop, u8): {show(pillow)}")
    if tv is not None:
        print(f"torchvision (DataLoader, ToTensor + Normalize, batches of 64): {show(tv)}")


if __name__ == "__main__":
    main()
