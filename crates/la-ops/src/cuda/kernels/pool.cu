// Max-pool forward: the maximum of every window and its flat position in the input plane.
// PyTorch semantics as the CPU kernel: the first maximum wins, every NaN replaces the current
// best (so the last NaN of a window wins), a window of -inf keeps its first position.
#include "common.cuh"

template <typename T>
__device__ void max_pool2d(const T *x, T *y, uint32_t *idx, size_t count, size_t h, size_t w,
                           size_t oh, size_t ow, size_t k, size_t s) {
  GRID_LOOP(o, count) {
    const size_t plane = o / (oh * ow), r = o % (oh * ow);
    const size_t top = (r / ow) * s, left = (r % ow) * s;
    const T *p = x + plane * h * w;
    T best = neg_inf<T>();
    size_t best_at = top * w + left;
    for (size_t i = top; i < top + k; ++i) {
      for (size_t j = left; j < left + k; ++j) {
        const T v = p[i * w + j];
        if (v > best || isnan(v)) {
          best = v;
          best_at = i * w + j;
        }
      }
    }
    y[o] = best;
    idx[o] = (uint32_t)best_at;
  }
}

#define POOL(T, NAME)                                                                      \
  extern "C" __global__ void NAME(const T *x, T *y, uint32_t *idx, size_t count, size_t h, \
                                  size_t w, size_t oh, size_t ow, size_t k, size_t s) {    \
    max_pool2d<T>(x, y, idx, count, h, w, oh, ow, k, s);                                   \
  }
POOL(float, max_pool2d_f32)
POOL(double, max_pool2d_f64)
