// Helpers shared by the la-ops CUDA kernels. Every kernel is a template instantiated for
// float and double by LA_FLOAT_KERNEL, with C names ending in _f32 / _f64.
#pragma once
#include <stdint.h>

// Dynamic shared memory; the CPU emulation used by the kernel tests (../emulate) defines its own.
#ifndef LA_OPS_EMULATION
#define DYNAMIC_SHARED(T, name) extern __shared__ T name[]
#endif

// Grid-stride loop over [0, n) with 64-bit indices.
#define GRID_LOOP(i, n)                                                                    \
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);                  \
       i += (size_t)blockDim.x * gridDim.x)

template <typename T> __device__ __forceinline__ T neg_inf();
template <> __device__ __forceinline__ float neg_inf<float>() { return -__int_as_float(0x7f800000); }
template <> __device__ __forceinline__ double neg_inf<double>() {
  return -__longlong_as_double(0x7ff0000000000000LL);
}

template <typename T> __device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Sum of `v` over the block (blockDim.x a multiple of 32, at most 1024); the result is valid in
// thread 0. `scratch` holds 32 values and may be reused after the call returns.
template <typename T> __device__ T block_sum(T v, T *scratch) {
  const unsigned lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  const unsigned warps = blockDim.x >> 5;
  v = threadIdx.x < warps ? scratch[threadIdx.x] : (T)0;
  if (warp == 0) v = warp_sum(v);
  return v;
}

// Records the smallest flat position at which an index was out of range.
__device__ __forceinline__ void report_bad(unsigned long long *bad, size_t position) {
  atomicMin(bad, (unsigned long long)position);
}

__device__ __forceinline__ float fmax_t(float a, float b) { return fmaxf(a, b); }
__device__ __forceinline__ double fmax_t(double a, double b) { return fmax(a, b); }
__device__ __forceinline__ float sqrt_t(float a) { return sqrtf(a); }
__device__ __forceinline__ double sqrt_t(double a) { return sqrt(a); }

// Two per-channel sums of an (n, c, plane) tensor, first phase: block (s, ch) of a grid
// (splits, c) adds f(flat position) (a double2) over its share of channel ch, walking every
// image, and writes the pair to partial[ch * splits + s].
template <typename F>
__device__ void channel_partial(F f, double2 *partial, size_t n, size_t c, size_t plane) {
  __shared__ double scratch[32];
  const size_t ch = blockIdx.y, step = (size_t)gridDim.x * blockDim.x;
  double a = 0, b = 0;
  for (size_t img = 0; img < n; ++img) {
    const size_t base = (img * c + ch) * plane;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < plane; i += step) {
      const double2 v = f(base + i);
      a += v.x;
      b += v.y;
    }
  }
  a = block_sum(a, scratch);
  b = block_sum(b, scratch);
  if (threadIdx.x == 0) partial[ch * gridDim.x + blockIdx.x] = make_double2(a, b);
}

// Second phase: the sums of channel ch, added in a fixed order.
__device__ __forceinline__ double2 channel_total(const double2 *partial, size_t splits,
                                                 size_t ch) {
  double a = 0, b = 0;
  for (size_t s = 0; s < splits; ++s) {
    a += partial[ch * splits + s].x;
    b += partial[ch * splits + s].y;
  }
  return make_double2(a, b);
}
