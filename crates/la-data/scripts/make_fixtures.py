#!/usr/bin/env python3
"""Reference outputs for la-data's tests, from Pillow and torchvision.

    python3 crates/la-data/scripts/make_fixtures.py     # from the repository root

Writes into crates/la-data/tests/fixtures/:
  cmyk.jpg        an 16x8 CMYK JPEG (Adobe APP14 marker, as Pillow writes it) with 8 colour bars
  reference.json  what Pillow / torchvision make of known inputs:
    cmyk_rgb        Pillow's decode of cmyk.jpg converted to RGB
    jitter          torchvision.transforms.functional.adjust_{brightness,contrast,saturation,hue}
                    on an 8x6 random PIL image, for several factors
    resize          Pillow BILINEAR resize of a 40x30 smooth image to 17x13
    resize_crop     torchvision Resize(32) + CenterCrop(32) of a 64x48 smooth image
Images are stored as flat row-major RGB lists. Deterministic (fixed seed); rerunning rewrites
identical files.
"""
import io
import json
import pathlib

import numpy as np
import torchvision.transforms as T
import torchvision.transforms.functional as F
from PIL import Image

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures"


def flat(img):
    return np.asarray(img.convert("RGB"), dtype=np.uint8).reshape(-1).tolist()


def image_record(img):
    return {"width": img.width, "height": img.height, "rgb": flat(img)}


def smooth(width, height, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    chans = []
    for _ in range(3):
        a, b, c, d = rng.uniform(0.05, 0.3, 4)
        chans.append(127.5 + 120 * np.sin(a * x + b * y) * np.cos(c * x - d * y))
    return Image.fromarray(np.stack(chans, -1).round().clip(0, 255).astype(np.uint8), "RGB")


def cmyk_fixture():
    bars = [(0, 0, 0, 0), (255, 0, 0, 0), (0, 255, 0, 0), (0, 0, 255, 0),
            (0, 0, 0, 255), (128, 64, 32, 16), (40, 200, 100, 0), (0, 0, 0, 128)]
    cmyk = np.zeros((8, 16, 4), np.uint8)
    for i, c in enumerate(bars):
        cmyk[:, 2 * i : 2 * i + 2] = c
    buf = io.BytesIO()
    Image.fromarray(cmyk, "CMYK").save(buf, "JPEG", quality=100)
    (OUT / "cmyk.jpg").write_bytes(buf.getvalue())
    return image_record(Image.open(io.BytesIO(buf.getvalue())))


def jitter_fixture():
    rng = np.random.default_rng(1)
    img = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), "RGB")
    ops = {
        "brightness": (F.adjust_brightness, [0.6, 0.85, 1.3, 1.4]),
        "contrast": (F.adjust_contrast, [0.6, 0.9, 1.25, 1.4]),
        "saturation": (F.adjust_saturation, [0.0, 0.6, 1.2, 1.4]),
        "hue": (F.adjust_hue, [-0.4, -0.13, 0.05, 0.27, 0.4]),
    }
    out = {"input": image_record(img)}
    for name, (fn, factors) in ops.items():
        out[name] = [{"factor": f, "rgb": flat(fn(img, f))} for f in factors]
    return out


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    src = smooth(40, 30, 2)
    wide = smooth(64, 48, 3)
    reference = {
        "cmyk_rgb": cmyk_fixture(),
        "jitter": jitter_fixture(),
        "resize": {"input": image_record(src),
                   "output": image_record(src.resize((17, 13), Image.BILINEAR))},
        "resize_crop": {"input": image_record(wide),
                        "output": image_record(T.Compose([T.Resize(32), T.CenterCrop(32)])(wide))},
    }
    (OUT / "reference.json").write_text(json.dumps(reference, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
