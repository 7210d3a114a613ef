#!/usr/bin/env python3
"""Write data/fashion-mnist-sample/: the first N images (default 2,000) of the Fashion-MNIST
test split and their labels, as gzipped IDX files, from Debian's `dataset-fashion-mnist`.

    apt-get install -y dataset-fashion-mnist
    python3 crates/la-data/scripts/make_sample.py            # from the repository root

The IDX header is rewritten with the new item count; the pixel and label bytes are copied
unchanged. gzip runs with mtime=0 and level 9 so that the output is byte-for-byte reproducible.
Prints the sha256 of every written file (compressed and decompressed) for data/README.md.
"""
import argparse
import gzip
import hashlib
import pathlib
import struct

DEBIAN_DIR = pathlib.Path("/usr/share/datasets/fashion-mnist")


def read_idx(path):
    raw = gzip.decompress(path.read_bytes())
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    assert zero == 0 and dtype == 0x08, f"{path}: not an unsigned-byte IDX file"
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    return dims, raw[4 + 4 * ndim :]


def write_idx(path, dims, body):
    header = struct.pack(">HBB", 0, 0x08, len(dims)) + struct.pack(">" + "I" * len(dims), *dims)
    raw = header + body
    with open(path, "wb") as f:
        with gzip.GzipFile(filename="", mode="wb", fileobj=f, compresslevel=9, mtime=0) as gz:
            gz.write(raw)
    return raw


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=pathlib.Path, default=DEBIAN_DIR)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("data/fashion-mnist-sample"))
    parser.add_argument("-n", type=int, default=2000)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for kind in ("images-idx3", "labels-idx1"):
        dims, body = read_idx(args.source / f"t10k-{kind}-ubyte.gz")
        per_item = 1
        for d in dims[1:]:
            per_item *= d
        out = args.out / f"t10k-{kind}-ubyte.gz"
        raw = write_idx(out, (args.n,) + tuple(dims[1:]), body[: args.n * per_item])
        gz_sha = hashlib.sha256(out.read_bytes()).hexdigest()
        raw_sha = hashlib.sha256(raw).hexdigest()
        print(f"{out}  gz sha256 {gz_sha}  decompressed sha256 {raw_sha}  ({len(raw)} bytes)")


if __name__ == "__main__":
    main()
