// Batch normalisation over (N, C, plane) tensors: per-channel statistics by a two-phase
// reduction (partial sums per (split, channel) block in f64, then a fixed-order sum per channel,
// so results do not depend on scheduling), the normalisation with an optional fused ReLU, and the
// backward pass. `stats` holds 3*C doubles: mean, biased variance, 1/sqrt(var + eps).
#include "common.cuh"

// Sums of (x - pivot) and (x - pivot)^2 over the block's share of channel blockIdx.y, where the
// pivot is the channel's first element (moments about it stay accurate for large means).
template <typename T>
__device__ void stats_partial(const T *x, double2 *partial, size_t n, size_t c, size_t plane) {
  const double pivot = (double)x[blockIdx.y * plane];
  channel_partial(
      [&](size_t at) {
        const double d = (double)x[at] - pivot;
        return make_double2(d, d * d);
      },
      partial, n, c, plane);
}

template <typename T>
__device__ void stats_finalize(const T *x, const double2 *partial, size_t splits, size_t c,
                               size_t plane, double count, double eps, double *stats) {
  GRID_LOOP(ch, c) {
    const double2 s = channel_total(partial, splits, ch);
    const double shift = s.x / count;
    const double var = fmax(s.y / count - shift * shift, 0.0);
    stats[ch] = (double)x[ch * plane] + shift;
    stats[c + ch] = var;
    stats[2 * c + ch] = 1.0 / sqrt(var + eps);
  }
}

// Statistics given as running estimates (evaluation mode).
template <typename T>
__device__ void stats_running(const T *mean, const T *var, size_t c, double eps, double *stats) {
  GRID_LOOP(ch, c) {
    stats[ch] = (double)mean[ch];
    stats[c + ch] = (double)var[ch];
    stats[2 * c + ch] = 1.0 / sqrt((double)var[ch] + eps);
  }
}

// y = max(x * scale + shift, floor) per channel; blocks walk planes (grid x) and the elements of
// a plane (grid y).
template <typename T>
__device__ void normalize(const T *x, const T *w, const T *b, const double *stats, T *y,
                          size_t c, size_t plane, size_t planes, int relu) {
  const T floor = relu ? (T)0 : neg_inf<T>();
  for (size_t pl = blockIdx.x; pl < planes; pl += gridDim.x) {
    const size_t ch = pl % c;
    const double sc = (double)w[ch] * stats[2 * c + ch];
    const T scale = (T)sc, shift = (T)((double)b[ch] - stats[ch] * sc);
    const T *xp = x + pl * plane;
    T *yp = y + pl * plane;
    for (size_t i = (size_t)blockIdx.y * blockDim.x + threadIdx.x; i < plane;
         i += (size_t)gridDim.y * blockDim.x) {
      yp[i] = fmax_t(xp[i] * scale + shift, floor);
    }
  }
}

// Sums of dy and dy * (x - mean) over the block's share of channel blockIdx.y, where dy is the
// output gradient, zero where the fused ReLU was off (output <= 0).
template <typename T>
__device__ void backward_partial(const T *x, const T *res, const T *g, const double *stats,
                                 double2 *partial, size_t n, size_t c, size_t plane, int relu) {
  const double mean = stats[blockIdx.y];
  channel_partial(
      [&](size_t at) {
        const double dy = (relu && res[at] <= (T)0) ? 0.0 : (double)g[at];
        return make_double2(dy, dy * ((double)x[at] - mean));
      },
      partial, n, c, plane);
}

// Per channel: the bias gradient sum(dy), the weight gradient sum(dy (x - mean)) * invstd, and
// the coefficients of dx = dy * scale + x * slope + shift (3*C doubles in `coef`).
template <typename T>
__device__ void backward_finalize(const double2 *partial, size_t splits, const T *weight,
                                  const double *stats, size_t c, double count, int train,
                                  T *dweight, T *dbias, double *coef) {
  GRID_LOOP(ch, c) {
    const double2 s = channel_total(partial, splits, ch);
    const double sg = s.x, sgx = s.y;
    const double mean = stats[ch], invstd = stats[2 * c + ch];
    const double wi = (double)weight[ch] * invstd;
    dbias[ch] = (T)sg;
    dweight[ch] = (T)(sgx * invstd);
    double shift = 0, slope = 0;
    if (train) {
      // dx = w invstd (dy - sum(dy)/n - xhat sum(dy xhat)/n), as an affine map of dy and x.
      const double k = sgx * invstd * invstd / count;
      shift = -wi * (sg / count - mean * k);
      slope = -wi * k;
    }
    coef[ch] = wi;
    coef[c + ch] = slope;
    coef[2 * c + ch] = shift;
  }
}

template <typename T>
__device__ void backward_dx(const T *x, const T *res, const T *g, const double *coef, T *dx,
                            size_t c, size_t plane, size_t planes, int relu) {
  for (size_t pl = blockIdx.x; pl < planes; pl += gridDim.x) {
    const size_t ch = pl % c;
    const T scale = (T)coef[ch], slope = (T)coef[c + ch], shift = (T)coef[2 * c + ch];
    const size_t base = pl * plane;
    for (size_t i = (size_t)blockIdx.y * blockDim.x + threadIdx.x; i < plane;
         i += (size_t)gridDim.y * blockDim.x) {
      const T dy = (relu && res[base + i] <= (T)0) ? (T)0 : g[base + i];
      dx[base + i] = dy * scale + x[base + i] * slope + shift;
    }
  }
}

// running = (1 - momentum) * running + momentum * scale * stats[part] (part 0 the mean, 1 the
// biased variance; scale turns it unbiased), in place, as PyTorch.
template <typename T>
__device__ void update_running(T *running, const double *stats, size_t c, size_t part,
                               double momentum, double scale) {
  GRID_LOOP(ch, c) {
    running[ch] = (T)((1.0 - momentum) * (double)running[ch] + momentum * stats[part * c + ch] * scale);
  }
}

#define BATCH_NORM(T, S)                                                                   \
  extern "C" __global__ void bn_stats_partial_##S(const T *x, double2 *partial, size_t n,   \
                                                  size_t c, size_t plane) {                \
    stats_partial<T>(x, partial, n, c, plane);                                             \
  }                                                                                        \
  extern "C" __global__ void bn_stats_finalize_##S(const T *x, const double2 *partial,      \
                                                   size_t splits, size_t c, size_t plane,  \
                                                   double count, double eps,               \
                                                   double *stats) {                        \
    stats_finalize<T>(x, partial, splits, c, plane, count, eps, stats);                    \
  }                                                                                        \
  extern "C" __global__ void bn_stats_running_##S(const T *mean, const T *var, size_t c,   \
                                                  double eps, double *stats) {             \
    stats_running<T>(mean, var, c, eps, stats);                                            \
  }                                                                                        \
  extern "C" __global__ void bn_normalize_##S(const T *x, const T *w, const T *b,          \
                                              const double *stats, T *y, size_t c,         \
                                              size_t plane, size_t planes, int relu) {     \
    normalize<T>(x, w, b, stats, y, c, plane, planes, relu);                               \
  }                                                                                        \
  extern "C" __global__ void bn_backward_partial_##S(                                      \
      const T *x, const T *res, const T *g, const double *stats, double2 *partial,          \
      size_t n, size_t c, size_t plane, int relu) {                                        \
    backward_partial<T>(x, res, g, stats, partial, n, c, plane, relu);                     \
  }                                                                                        \
  extern "C" __global__ void bn_backward_finalize_##S(                                     \
      const double2 *partial, size_t splits, const T *weight, const double *stats,          \
      size_t c, double count, int train, T *dweight, T *dbias, double *coef) {             \
    backward_finalize<T>(partial, splits, weight, stats, c, count, train, dweight, dbias,  \
                         coef);                                                            \
  }                                                                                        \
  extern "C" __global__ void bn_backward_dx_##S(const T *x, const T *res, const T *g,      \
                                                const double *coef, T *dx, size_t c,       \
                                                size_t plane, size_t planes, int relu) {   \
    backward_dx<T>(x, res, g, coef, dx, c, plane, planes, relu);                           \
  }                                                                                        \
  extern "C" __global__ void bn_update_running_##S(T *running, const double *stats,        \
                                                   size_t c, size_t part, double momentum, \
                                                   double scale) {                         \
    update_running<T>(running, stats, c, part, momentum, scale);                           \
  }
BATCH_NORM(float, f32)
BATCH_NORM(double, f64)
