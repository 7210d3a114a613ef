// la-ops' CUDA kernels, run on the CPU by cuda_host.hpp, against references written here
// independently (plain loops, std::sort), with the launch shapes of the Rust side
// (src/cuda/mod.rs, src/topk/cuda.rs). Small shapes: every CUDA thread is an OS thread.
//
//     bash crates/la-ops/src/cuda/emulate/run.sh
#include "cuda_host.hpp"

#include <cstdio>
#include <limits>
#include <numeric>
#include <random>

#include "../kernels/batch_norm.cu"
#include "../kernels/conv.cu"
#include "../kernels/normalize.cu"
#include "../kernels/pool.cu"
#include "../kernels/topk.cu"
#include "../kernels/unpool.cu"

static int failures = 0;
static int checks = 0;

#define CHECK(cond, ...)                                                                 \
  do {                                                                                   \
    ++checks;                                                                            \
    if (!(cond)) {                                                                       \
      std::printf("FAIL %s:%d: ", __FILE__, __LINE__);                                   \
      std::printf(__VA_ARGS__);                                                          \
      std::printf("\n");                                                                 \
      ++failures;                                                                        \
    }                                                                                    \
  } while (0)

using la_emu::launch;

// Launch shapes of src/cuda/mod.rs.
static const dim3 THREADS{256};
static dim3 grid_1d(size_t n) { return {(unsigned)std::clamp<size_t>((n + 255) / 256, 1, 1 << 20)}; }
static dim3 grid_planes(size_t planes, size_t plane) {
  return {(unsigned)std::clamp<size_t>(planes, 1, 1 << 20),
          (unsigned)std::clamp<size_t>((plane + 255) / 256, 1, 65535)};
}
static dim3 grid_channels(size_t c, size_t plane) {
  size_t splits = std::max<size_t>(1, std::min((plane + 255) / 256, (4096 + c - 1) / c));
  return {(unsigned)splits, (unsigned)c};
}

static std::mt19937_64 rng(7);
static double uniform() { return std::uniform_real_distribution<double>(-1.0, 1.0)(rng); }
template <typename T> std::vector<T> random(size_t n, double scale = 1.0, bool round = false) {
  std::vector<T> v(n);
  for (auto &x : v) x = (T)(round ? std::round(uniform() * scale) : uniform() * scale);
  return v;
}

template <typename T> bool same(T a, T b) { return a == b || (std::isnan(a) && std::isnan(b)); }

template <typename T> double rel_err(const std::vector<T> &got, const std::vector<double> &want) {
  double d = 0, n = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    d += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
    n += want[i] * want[i];
  }
  return n > 0 ? std::sqrt(d / n) : std::sqrt(d);
}

template <typename T> double tol() { return sizeof(T) == 4 ? 1e-5 : 1e-12; }
template <typename T> const char *tname() { return sizeof(T) == 4 ? "f32" : "f64"; }

// ---- pooling, scatter / gather --------------------------------------------------------------

template <typename T> void test_pool(size_t n, size_t c, size_t h, size_t w, size_t k, size_t s) {
  auto x = random<T>(n * c * h * w, 3.0, true);  // ties
  x[1] = std::numeric_limits<T>::quiet_NaN();
  x[5] = -std::numeric_limits<T>::infinity();
  const size_t oh = (h - k) / s + 1, ow = (w - k) / s + 1, count = n * c * oh * ow;
  std::vector<T> y(count);
  std::vector<uint32_t> idx(count);
  launch(grid_1d(count), THREADS, 0, [&] {
    max_pool2d<T>(x.data(), y.data(), idx.data(), count, h, w, oh, ow, k, s);
  });
  for (size_t o = 0; o < count; ++o) {
    const size_t plane = o / (oh * ow), r = (o % (oh * ow)) / ow, col = o % ow;
    T best = -std::numeric_limits<T>::infinity();
    size_t at = r * s * w + col * s;
    for (size_t i = r * s; i < r * s + k; ++i)
      for (size_t j = col * s; j < col * s + k; ++j) {
        const T v = x[plane * h * w + i * w + j];
        if (v > best || std::isnan(v)) best = v, at = i * w + j;
      }
    CHECK(same(y[o], best) && idx[o] == at, "pool %s k=%zu s=%zu output %zu", tname<T>(), k, s, o);
  }
}

template <typename T> void test_scatter_gather() {
  const size_t planes = 3, in_plane = 6, out_plane = 10, count = planes * in_plane;
  auto src = random<T>(count);
  std::vector<uint32_t> ids(count);
  for (size_t i = 0; i < count; ++i) ids[i] = (uint32_t)((i * 7) % out_plane);
  ids[4] = ids[3];  // a repeated index adds up
  std::vector<T> out(planes * out_plane, 0);
  unsigned long long bad = ~0ull;
  launch(grid_1d(count), THREADS, 0, [&] {
    scatter_add<T>(src.data(), ids.data(), out.data(), count, in_plane, out_plane, &bad);
  });
  std::vector<double> want(planes * out_plane, 0);
  for (size_t i = 0; i < count; ++i) want[(i / in_plane) * out_plane + ids[i]] += src[i];
  CHECK(rel_err(out, want) < tol<T>() && bad == ~0ull, "scatter_add %s", tname<T>());
  // Gather back through the same indices, with two out-of-range ones: the smaller position is
  // reported.
  ids[13] = 99;
  ids[8] = 10;
  std::vector<T> g(count);
  launch(grid_1d(count), THREADS, 0, [&] {
    gather<T>(out.data(), ids.data(), g.data(), count, in_plane, out_plane, &bad);
  });
  CHECK(bad == 8, "gather %s reports position %llu, expected 8", tname<T>(), bad);
  for (size_t i = 0; i < count; ++i) {
    const double w = ids[i] < out_plane ? (double)out[(i / in_plane) * out_plane + ids[i]] : 0.0;
    CHECK(g[i] == (T)w, "gather %s element %zu", tname<T>(), i);
  }
}

// ---- row normalisation ----------------------------------------------------------------------

template <typename T> void test_normalize(size_t rows, size_t cols) {
  auto x = random<T>(rows * cols);
  auto g = random<T>(rows * cols);
  std::fill(x.begin(), x.begin() + cols, (T)0);  // a zero row
  std::vector<T> y(x.size()), dx(x.size());
  const T eps = (T)1e-12;
  launch(grid_1d(rows * 32), THREADS, 0, [&] { l2_normalize<T>(x.data(), y.data(), rows, cols, eps); });
  launch(grid_1d(rows * 32), THREADS, 0,
         [&] { l2_normalize_backward<T>(x.data(), g.data(), dx.data(), rows, cols, eps); });
  std::vector<double> wy(x.size()), wdx(x.size());
  for (size_t r = 0; r < rows; ++r) {
    double ss = 0, xg = 0;
    for (size_t c = 0; c < cols; ++c) ss += (double)x[r * cols + c] * x[r * cols + c], xg += (double)x[r * cols + c] * g[r * cols + c];
    const double n = std::sqrt(ss);
    for (size_t c = 0; c < cols; ++c) {
      const size_t i = r * cols + c;
      wy[i] = x[i] / std::max(n, 1e-12);
      wdx[i] = n < 1e-12 ? g[i] / 1e-12 : g[i] / n - x[i] * xg / (n * n * n);
    }
  }
  CHECK(rel_err(y, wy) < tol<T>(), "l2_normalize %s %zux%zu: %g", tname<T>(), rows, cols, rel_err(y, wy));
  // The zero row's gradient is g / 1e-12: compare the other rows by relative error.
  std::vector<T> rest(dx.begin() + cols, dx.end());
  std::vector<double> wrest(wdx.begin() + cols, wdx.end());
  CHECK(rel_err(rest, wrest) < tol<T>(), "l2_normalize_backward %s", tname<T>());
  CHECK(dx[0] == (T)((double)g[0] / 1e-12) || std::abs(dx[0] / (g[0] / 1e-12) - 1) < 1e-6,
        "l2_normalize_backward %s zero row", tname<T>());
}

// ---- batch norm -----------------------------------------------------------------------------

template <typename T> void test_batch_norm(bool train, bool relu) {
  const size_t n = 3, c = 5, plane = 7 * 6, count = n * c * plane, planes = n * c;
  auto x = random<T>(count, 2.0);
  for (auto &v : x) v += (T)3;  // a mean far from zero
  auto w = random<T>(c), b = random<T>(c), g = random<T>(count);
  auto rm = random<T>(c), rv = random<T>(c);
  for (auto &v : rv) v = std::abs(v) + (T)0.5;
  const double eps = 1e-5, cnt = (double)(n * plane);
  std::vector<double> stats(3 * c);
  if (train) {
    const dim3 cfg = grid_channels(c, plane);
    std::vector<double2> partial(cfg.x * c);
    launch(cfg, THREADS, 0, [&] { stats_partial<T>(x.data(), partial.data(), n, c, plane); });
    launch(grid_1d(c), THREADS, 0, [&] {
      stats_finalize<T>(x.data(), partial.data(), cfg.x, c, plane, cnt, eps, stats.data());
    });
  } else {
    launch(grid_1d(c), THREADS, 0, [&] { stats_running<T>(rm.data(), rv.data(), c, eps, stats.data()); });
  }
  std::vector<T> y(count);
  launch(grid_planes(planes, plane), THREADS, 0, [&] {
    normalize<T>(x.data(), w.data(), b.data(), stats.data(), y.data(), c, plane, planes, relu);
  });
  // Reference: two-pass statistics in double.
  std::vector<double> mean(c), var(c), wy(count), wdx(count), wdw(c), wdb(c);
  for (size_t ch = 0; ch < c; ++ch) {
    double s = 0, ss = 0;
    for (size_t i = 0; i < n; ++i)
      for (size_t p = 0; p < plane; ++p) s += x[(i * c + ch) * plane + p];
    const double m = s / cnt;
    for (size_t i = 0; i < n; ++i)
      for (size_t p = 0; p < plane; ++p) ss += std::pow(x[(i * c + ch) * plane + p] - m, 2);
    mean[ch] = train ? m : rm[ch];
    var[ch] = train ? ss / cnt : rv[ch];
  }
  std::vector<double> dy(count);
  for (size_t ch = 0; ch < c; ++ch) {
    const double is = 1 / std::sqrt(var[ch] + eps);
    double sdy = 0, sdyx = 0;
    for (size_t i = 0; i < n; ++i)
      for (size_t p = 0; p < plane; ++p) {
        const size_t at = (i * c + ch) * plane + p;
        const double pre = (x[at] - mean[ch]) * is * w[ch] + b[ch];
        wy[at] = relu ? std::max(pre, 0.0) : pre;
        dy[at] = relu && wy[at] <= 0 ? 0 : g[at];
        sdy += dy[at];
        sdyx += dy[at] * (x[at] - mean[ch]) * is;
      }
    wdb[ch] = sdy;
    wdw[ch] = sdyx;
    for (size_t i = 0; i < n; ++i)
      for (size_t p = 0; p < plane; ++p) {
        const size_t at = (i * c + ch) * plane + p;
        const double xhat = (x[at] - mean[ch]) * is;
        wdx[at] = train ? w[ch] * is * (dy[at] - sdy / cnt - xhat * sdyx / cnt) : w[ch] * is * dy[at];
      }
  }
  const char *mode = train ? "train" : "eval";
  CHECK(rel_err(y, wy) < tol<T>(), "batch_norm %s %s relu=%d forward: %g", tname<T>(), mode, relu, rel_err(y, wy));
  // Backward, from the kernel's own output (its ReLU mask).
  const dim3 cfg = grid_channels(c, plane);
  std::vector<double2> partial(cfg.x * c);
  std::vector<double> coef(3 * c);
  std::vector<T> dw(c), db(c), dx(count);
  launch(cfg, THREADS, 0, [&] {
    backward_partial<T>(x.data(), y.data(), g.data(), stats.data(), partial.data(), n, c, plane, relu);
  });
  launch(grid_1d(c), THREADS, 0, [&] {
    backward_finalize<T>(partial.data(), cfg.x, w.data(), stats.data(), c, cnt, train, dw.data(), db.data(), coef.data());
  });
  launch(grid_planes(planes, plane), THREADS, 0, [&] {
    backward_dx<T>(x.data(), y.data(), g.data(), coef.data(), dx.data(), c, plane, planes, relu);
  });
  CHECK(rel_err(dx, wdx) < 10 * tol<T>(), "batch_norm %s %s relu=%d dx: %g", tname<T>(), mode, relu, rel_err(dx, wdx));
  CHECK(rel_err(dw, wdw) < tol<T>(), "batch_norm %s %s relu=%d dweight", tname<T>(), mode, relu);
  CHECK(rel_err(db, wdb) < tol<T>(), "batch_norm %s %s relu=%d dbias", tname<T>(), mode, relu);
  if (train) {
    auto running = rm;
    launch(grid_1d(c), THREADS, 0, [&] { update_running<T>(running.data(), stats.data(), c, 1, 0.1, cnt / (cnt - 1)); });
    std::vector<double> want(c);
    for (size_t ch = 0; ch < c; ++ch) want[ch] = 0.9 * rm[ch] + 0.1 * var[ch] * cnt / (cnt - 1);
    CHECK(rel_err(running, want) < tol<T>(), "batch_norm %s running variance", tname<T>());
  }
}

// ---- convolution helpers --------------------------------------------------------------------

template <typename T> void test_conv_helpers(size_t pad) {
  const size_t imgs = 2, c_in = 3, h = 5, w = 6, kh = 3, kw = 3;
  const size_t out_h = h + 2 * pad + 1 - kh, out_w = w + 2 * pad + 1 - kw, K = c_in * kh * kw, P = out_h * out_w;
  auto x = random<T>(imgs * c_in * h * w);
  std::vector<T> col(imgs * K * P, (T)-7);
  launch(grid_planes(imgs * K, P), THREADS, 0, [&] {
    im2col<T>(x.data(), col.data(), imgs * K, c_in, h, w, kh, kw, pad, pad, out_h, out_w);
  });
  for (size_t img = 0; img < imgs; ++img)
    for (size_t ci = 0; ci < c_in; ++ci)
      for (size_t i = 0; i < kh; ++i)
        for (size_t j = 0; j < kw; ++j)
          for (size_t r = 0; r < out_h; ++r)
            for (size_t q = 0; q < out_w; ++q) {
              const long ir = (long)(r + i) - (long)pad, iq = (long)(q + j) - (long)pad;
              const T want = ir >= 0 && ir < (long)h && iq >= 0 && iq < (long)w ? x[((img * c_in + ci) * h + ir) * w + iq] : 0;
              const size_t row = img * K + (ci * kh + i) * kw + j;
              CHECK(col[row * P + r * out_w + q] == want, "im2col %s pad %zu", tname<T>(), pad);
            }
  // (a, b, 3x3) -> (b, a, 3x3) rotated.
  const size_t a = 3, bb = 4, taps = 9;
  auto wt = random<T>(a * bb * taps);
  std::vector<T> out(wt.size());
  launch(grid_1d(wt.size()), THREADS, 0, [&] { flip_transpose<T>(wt.data(), out.data(), a, bb, taps); });
  for (size_t ai = 0; ai < a; ++ai)
    for (size_t bi = 0; bi < bb; ++bi)
      for (size_t t = 0; t < taps; ++t)
        CHECK(out[(bi * a + ai) * taps + t] == wt[(ai * bb + bi) * taps + taps - 1 - t], "flip_transpose %s", tname<T>());
  // Fill with per-channel values, then per-channel sums.
  const size_t n = 3, c = 4, plane = 300;
  auto v = random<T>(c);
  std::vector<T> y(n * c * plane);
  launch(grid_planes(n * c, plane), THREADS, 0, [&] { fill_channels<T>(y.data(), v.data(), c, plane, n * c); });
  bool filled = true;
  for (size_t i = 0; i < y.size(); ++i) filled &= y[i] == v[(i / plane) % c];
  CHECK(filled, "fill_channels %s", tname<T>());
  auto gr = random<T>(n * c * plane);
  const dim3 cfg = grid_channels(c, plane);
  std::vector<double2> partial(cfg.x * c);
  std::vector<T> sums(c);
  launch(cfg, THREADS, 0, [&] { channel_sum_partial<T>(gr.data(), partial.data(), n, c, plane); });
  launch(grid_1d(c), THREADS, 0, [&] { channel_sum_finalize<T>(partial.data(), cfg.x, c, sums.data()); });
  std::vector<double> want(c, 0);
  for (size_t i = 0; i < gr.size(); ++i) want[(i / plane) % c] += gr[i];
  CHECK(rel_err(sums, want) < tol<T>(), "channel_sum %s", tname<T>());
}

// ---- top-k ----------------------------------------------------------------------------------

template <typename T> struct KeyOf;
template <> struct KeyOf<float> { using K = uint32_t; };
template <> struct KeyOf<double> { using K = uint64_t; };

// The order of the CPU kernel: larger first, NaN above all (NaNs by index), -0.0 == 0.0, then
// the lower index.
template <typename T> std::vector<uint32_t> reference_topk(const T *row, size_t cols, size_t k) {
  std::vector<uint32_t> order(cols);
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    const T x = row[a], y = row[b];
    if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && !std::isnan(y);
    return x > y;
  });
  order.resize(k);
  return order;
}

// The launches of src/topk/cuda.rs, with the shared-memory limit as a parameter so that small
// rows exercise both sorts.
template <typename T>
std::vector<uint32_t> run_topk(const std::vector<T> &x, size_t rows, size_t cols, size_t k, size_t shared_limit) {
  using K = typename KeyOf<T>::K;
  size_t p = 1;
  while (p < k) p <<= 1;
  std::vector<K> keys(rows * p, (K)0x5a5a5a5a);
  std::vector<uint32_t> ids(rows * p, 0xdeadbeef), out(rows * k, 0xdeadbeef);
  const unsigned threads = (unsigned)std::clamp<size_t>(((cols + 7) / 8 + 31) / 32 * 32, 64, 1024);
  launch({(unsigned)rows}, {threads}, 0,
         [&] { topk_select<T, K>(x.data(), rows, cols, k, p, keys.data(), ids.data()); });
  const size_t bytes = p * (sizeof(K) + 4);
  if (bytes <= shared_limit) {
    const unsigned st = (unsigned)std::clamp<size_t>((p / 2 + 31) / 32 * 32, 32, 1024);
    launch({(unsigned)rows}, {st}, bytes, [&] { sort_shared<K>(keys.data(), ids.data(), rows, p, k, out.data()); });
  } else {
    for (size_t size = 2; size <= p; size <<= 1)
      for (size_t stride = size / 2; stride > 0; stride /= 2)
        launch(grid_1d(rows * p / 2), THREADS, 0, [&] { sort_step<K>(keys.data(), ids.data(), rows, p, size, stride); });
    launch(grid_1d(rows * k), THREADS, 0, [&] { topk_write(ids.data(), rows, p, k, out.data()); });
  }
  return out;
}

template <typename T> void test_topk(size_t rows, size_t cols, size_t k, double scale, bool round, const char *what) {
  auto x = random<T>(rows * cols, scale, round);
  if (cols > 20) {
    x[3] = std::numeric_limits<T>::quiet_NaN();
    x[11] = (T)-0.0;
    x[12] = (T)0.0;
  }
  if (cols > 20 && rows > 1) {
    x[cols + 5] = std::numeric_limits<T>::quiet_NaN();
    x[cols + 2] = std::numeric_limits<T>::quiet_NaN();
  }
  for (size_t shared_limit : {size_t(32 << 10), size_t(0)}) {
    auto got = run_topk<T>(x, rows, cols, k, shared_limit);
    for (size_t r = 0; r < rows; ++r) {
      auto want = reference_topk(x.data() + r * cols, cols, k);
      bool ok = std::equal(want.begin(), want.end(), got.begin() + r * k);
      CHECK(ok, "topk %s %s rows=%zu cols=%zu k=%zu row %zu (%s sort)", tname<T>(), what, rows, cols, k, r,
            shared_limit ? "shared" : "global");
    }
  }
}

template <typename T> void all() {
  test_pool<T>(2, 3, 7, 9, 2, 2);
  test_pool<T>(1, 2, 9, 8, 3, 2);
  test_scatter_gather<T>();
  test_normalize<T>(37, 50);
  test_normalize<T>(3, 700);
  for (bool train : {true, false})
    for (bool relu : {false, true}) test_batch_norm<T>(train, relu);
  for (size_t pad : {0, 1, 2}) test_conv_helpers<T>(pad);
  test_topk<T>(3, 1000, 10, 1.0, false, "distinct");
  test_topk<T>(2, 1000, 1, 1.0, false, "k=1");
  test_topk<T>(3, 1000, 100, 4.0, true, "ties");
  test_topk<T>(2, 600, 600, 3.0, true, "k=cols");
  test_topk<T>(2, 5000, 257, 1e-3, true, "all equal");
  test_topk<T>(1, 20000, 70, 1.0, false, "long row");
}

int main() {
  all<float>();
  all<double>();
  std::printf("%d checks, %d failed\n", checks, failures);
  return failures ? 1 : 0;
}
