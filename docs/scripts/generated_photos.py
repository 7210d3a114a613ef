# 1,000 generated 224 x 224 RGB photos (smooth random colour fields), as PNG, for the README's
# fast-path timing. Needs numpy.
#   python3 docs/scripts/generated_photos.py OUT_DIR
import zlib, struct, numpy as np, os, sys
out = sys.argv[1]; os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(0)
def png(path, a):
    h, w, _ = a.shape
    rows = b''.join(b'\x00' + a[y].tobytes() for y in range(h))
    chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
    open(path, 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(rows, 1)) + chunk(b'IEND', b''))
y, x = np.mgrid[0:224, 0:224] / 224.0
for i in range(1000):
    f = rng.uniform(1, 6, 3); p = rng.uniform(0, 6.28, 3)
    a = np.stack([np.sin(f[c] * (x + y * (c - 1)) * 3.14 + p[c]) for c in range(3)], -1)
    png(f'{out}/{i:04d}.png', ((a * 0.5 + 0.5) * 255 + rng.normal(0, 8, a.shape)).clip(0, 255).astype(np.uint8))
