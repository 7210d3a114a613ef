// Row L2-normalisation, forward and backward: one warp per row, rows grid-strided.
#include "common.cuh"

// y = x / max(|x|, eps) for each `cols`-long row.
template <typename T>
__device__ void l2_normalize(const T *x, T *y, size_t rows, size_t cols, T eps) {
  const size_t lane = threadIdx.x & 31;
  const size_t warps = ((size_t)gridDim.x * blockDim.x) >> 5;
  for (size_t r = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5; r < rows; r += warps) {
    const T *xr = x + r * cols;
    T ss = 0;
    for (size_t c = lane; c < cols; c += 32) ss += xr[c] * xr[c];
    ss = warp_sum(ss);
    const T scale = (T)1 / fmax_t(sqrt_t(ss), eps);
    for (size_t c = lane; c < cols; c += 32) y[r * cols + c] = xr[c] * scale;
  }
}

// dx = g / n - x (x . g) / n^3 where n = |x| >= eps, else g / eps.
template <typename T>
__device__ void l2_normalize_backward(const T *x, const T *g, T *dx, size_t rows, size_t cols,
                                      T eps) {
  const size_t lane = threadIdx.x & 31;
  const size_t warps = ((size_t)gridDim.x * blockDim.x) >> 5;
  for (size_t r = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5; r < rows; r += warps) {
    const T *xr = x + r * cols, *gr = g + r * cols;
    T ss = 0, xg = 0;
    for (size_t c = lane; c < cols; c += 32) {
      ss += xr[c] * xr[c];
      xg += xr[c] * gr[c];
    }
    ss = warp_sum(ss);
    xg = warp_sum(xg);
    const T n = sqrt_t(ss);
    if (n < eps) {
      for (size_t c = lane; c < cols; c += 32) dx[r * cols + c] = gr[c] / eps;
    } else {
      const T inv = (T)1 / n, along = xg * inv * inv * inv;
      for (size_t c = lane; c < cols; c += 32) dx[r * cols + c] = gr[c] * inv - xr[c] * along;
    }
  }
}

#define NORMALIZE(T, SUFFIX)                                                               \
  extern "C" __global__ void l2_normalize_##SUFFIX(const T *x, T *y, size_t rows,          \
                                                   size_t cols, T eps) {                   \
    l2_normalize<T>(x, y, rows, cols, eps);                                                \
  }                                                                                        \
  extern "C" __global__ void l2_normalize_backward_##SUFFIX(                               \
      const T *x, const T *g, T *dx, size_t rows, size_t cols, T eps) {                    \
    l2_normalize_backward<T>(x, g, dx, rows, cols, eps);                                   \
  }
NORMALIZE(float, f32)
NORMALIZE(double, f64)
