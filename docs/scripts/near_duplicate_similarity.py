# Similarity of the near-duplicates to their originals against every other item's nearest
# neighbour, from a `la cluster` run on near_duplicate_folder.py's folder. Needs numpy.
#   python3 docs/scripts/near_duplicate_similarity.py CLUSTER_RUN_DIR
import json, struct, numpy as np, sys, csv
d = sys.argv[1]
b = open(f'{d}/embeddings.safetensors', 'rb').read()
hl = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8+hl]); base = 8 + hl
def t(name, dt):
    m = h[name]; s, e = m['data_offsets']; return np.frombuffer(b[base+s:base+e], dt).reshape(m['shape'])
items = t('items', np.uint32); v = t('vectors', np.float32)
v = v / np.linalg.norm(v, axis=1, keepdims=True)
names = [r['path'] for r in csv.DictReader(open(f'{d}/clusters.csv'))]
idx = {n.split('/')[-1]: r for r, n in enumerate(names)}
sim = v @ v.T; np.fill_diagonal(sim, -2)
pairs = [(idx[n], idx[n.replace('_dup', '')]) for n in idx if '_dup' in n]
dup = np.array([sim[a, b] for a, b in pairs])
dupset = set(idx[n] for n in idx if '_dup' in n) | set(b for a, b in pairs)
others = [r for r in range(len(names)) if r not in dupset]
top1 = sim[others].max(axis=1)
print('true duplicate pairs: min %.4f  p5 %.4f  median %.4f' % (dup.min(), np.percentile(dup, 5), np.median(dup)))
print('top-1 similarity of items without a duplicate: median %.4f  p99 %.4f  p99.9 %.4f  max %.4f' % (np.median(top1), np.percentile(top1, 99), np.percentile(top1, 99.9), top1.max()))
for th in [0.95, 0.97, 0.98, 0.99, 0.995, 0.998]:
    print(f'threshold {th}: duplicates found {(dup >= th).mean():.2f}, items without a duplicate flagged {(top1 >= th).mean():.3f}')
# Lowe's ratio: distance to the nearest other / distance to the second nearest.
d = np.sqrt(np.maximum(2 - 2 * sim, 0)); np.fill_diagonal(d, np.inf)
srt = np.sort(d, axis=1); ratio = srt[:, 0] / srt[:, 1]; nn = d.argmin(axis=1)
dup_rows = [a for a, b in pairs]
is_top1 = np.mean([nn[a] == b for a, b in pairs])
print('partner is the nearest: %.2f' % is_top1)
rd = np.array([ratio[a] for a, b in pairs]); ro = ratio[others]
print('ratio of duplicates: median %.3f p95 %.3f max %.3f; of others: p1 %.3f p5 %.3f median %.3f' % (np.median(rd), np.percentile(rd, 95), rd.max(), np.percentile(ro, 1), np.percentile(ro, 5), np.median(ro)))
for th in [0.3, 0.4, 0.5, 0.6, 0.7]:
    print(f'ratio < {th}: duplicates found {np.mean([(ratio[a] < th) and nn[a] == b for a, b in pairs]):.2f}, others flagged {(ro < th).mean():.3f}')
