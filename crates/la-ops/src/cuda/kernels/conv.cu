// Helpers of the stride-1 convolution built on cuBLAS: im2col, the rotated and transposed
// weight of the adjoint convolution, per-channel fills (bias) and per-channel sums (the bias
// gradient).
#include "common.cuh"

// col (images, K, P) with K = c_in*kh*kw and P = out_h*out_w from x (images, c_in, h, w);
// positions in the zero padding read zero. Block (r, chunk) fills row r = img*K + k, elements
// chunk*blockDim + threadIdx.x + j*gridDim.y*blockDim.
template <typename T>
__device__ void im2col(const T *x, T *col, size_t rows, size_t c_in, size_t h, size_t w,
                       size_t kh, size_t kw, size_t pad_h, size_t pad_w, size_t out_h,
                       size_t out_w) {
  const size_t k_per_img = c_in * kh * kw, p_count = out_h * out_w;
  for (size_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const size_t img = r / k_per_img, k = r % k_per_img;
    const size_t ci = k / (kh * kw), ki = (k / kw) % kh, kj = k % kw;
    const T *plane = x + (img * c_in + ci) * h * w;
    T *dst = col + r * p_count;
    for (size_t p = (size_t)blockIdx.y * blockDim.x + threadIdx.x; p < p_count;
         p += (size_t)gridDim.y * blockDim.x) {
      const unsigned orow = (unsigned)(p / out_w), ocol = (unsigned)(p % out_w);
      // Unsigned wrap-around makes negative positions large, hence out of range.
      const size_t irow = (size_t)orow + ki - pad_h, icol = (size_t)ocol + kj - pad_w;
      dst[p] = (irow < h && icol < w) ? plane[irow * w + icol] : (T)0;
    }
  }
}

// w (a, b, kh*kw) -> (b, a, kh*kw) with each kernel reversed (rotated by 180 degrees).
template <typename T>
__device__ void flip_transpose(const T *w, T *out, size_t a, size_t b, size_t k) {
  GRID_LOOP(i, a * b * k) {
    const size_t ai = i / (b * k), bi = (i / k) % b, t = i % k;
    out[(bi * a + ai) * k + (k - 1 - t)] = w[i];
  }
}

// y (planes of `plane` elements, channel = plane index % c) filled with v[channel], or zeros.
template <typename T>
__device__ void fill_channels(T *y, const T *v, size_t c, size_t plane, size_t planes) {
  for (size_t pl = blockIdx.x; pl < planes; pl += gridDim.x) {
    const T value = v ? v[pl % c] : (T)0;
    for (size_t i = (size_t)blockIdx.y * blockDim.x + threadIdx.x; i < plane;
         i += (size_t)gridDim.y * blockDim.x) {
      y[pl * plane + i] = value;
    }
  }
}

template <typename T>
__device__ void channel_sum_partial(const T *g, double2 *partial, size_t n, size_t c,
                                    size_t plane) {
  channel_partial([&](size_t at) { return make_double2((double)g[at], 0.0); }, partial, n, c,
                  plane);
}

template <typename T>
__device__ void channel_sum_finalize(const double2 *partial, size_t splits, size_t c, T *out) {
  GRID_LOOP(ch, c) { out[ch] = (T)channel_total(partial, splits, ch).x; }
}

#define CONV(T, S)                                                                         \
  extern "C" __global__ void im2col_##S(const T *x, T *col, size_t rows, size_t c_in,      \
                                        size_t h, size_t w, size_t kh, size_t kw,          \
                                        size_t pad_h, size_t pad_w, size_t out_h,          \
                                        size_t out_w) {                                    \
    im2col<T>(x, col, rows, c_in, h, w, kh, kw, pad_h, pad_w, out_h, out_w);               \
  }                                                                                        \
  extern "C" __global__ void flip_transpose_##S(const T *w, T *out, size_t a, size_t b,    \
                                                size_t k) {                                \
    flip_transpose<T>(w, out, a, b, k);                                                    \
  }                                                                                        \
  extern "C" __global__ void fill_channels_##S(T *y, const T *v, size_t c, size_t plane,   \
                                               size_t planes) {                            \
    fill_channels<T>(y, v, c, plane, planes);                                              \
  }                                                                                        \
  extern "C" __global__ void channel_sum_partial_##S(const T *g, double2 *partial,         \
                                                     size_t n, size_t c, size_t plane) {   \
    channel_sum_partial<T>(g, partial, n, c, plane);                                       \
  }                                                                                        \
  extern "C" __global__ void channel_sum_finalize_##S(const double2 *partial,              \
                                                      size_t splits, size_t c, T *out) {   \
    channel_sum_finalize<T>(partial, splits, c, out);                                      \
  }
CONV(float, f32)
CONV(double, f64)
