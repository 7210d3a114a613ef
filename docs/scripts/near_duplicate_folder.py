# The sample's 2,000 images as PNGs plus 100 near-duplicates (1-pixel shift, 5 % brighter, noise
# sigma 2), for docs/quality.md's near-duplicate measurement. Needs numpy.
#   python3 docs/scripts/near_duplicate_folder.py OUT_DIR
import gzip, zlib, struct, os, sys, numpy as np
raw = gzip.open(os.path.join(os.path.dirname(__file__), '../../data/fashion-mnist-sample/t10k-images-idx3-ubyte.gz')).read()
n = struct.unpack('>I', raw[4:8])[0]
imgs = np.frombuffer(raw[16:], np.uint8).reshape(n, 28, 28)
def png(path, a):
    h, w = a.shape
    rows = b''.join(b'\x00' + a[y].tobytes() for y in range(h))
    chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
    open(path, 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b''))
out = sys.argv[1]; os.makedirs(out, exist_ok=True)
for i in range(n): png(f'{out}/{i:04d}.png', imgs[i])
rng = np.random.default_rng(0)
for j, i in enumerate(rng.choice(n, 100, replace=False)):
    a = np.roll(imgs[i].astype(float), 1, axis=1) * 1.05 + rng.normal(0, 2, (28, 28))
    png(f'{out}/{i:04d}_dup.png', np.clip(a, 0, 255).astype(np.uint8))
print(n)
