// Top-k over the rows of a matrix, for rows of up to billions of columns:
//
// 1. topk_select: one block per row finds the exact k-th largest key by radix selection (8 bits
//    per pass, histograms in shared memory with warp-aggregated atomics), then collects the
//    (key, column) pairs of the k best into a scratch row of `p` slots (p = k rounded up to a
//    power of two; the rest is padding that sorts last): every key above the k-th, and the
//    lowest columns among the keys equal to it.
// 2. The scratch rows are sorted, best first, by a bitonic network: in shared memory when a row
//    fits (topk_sort_shared), else by one launch per stage over global memory (topk_sort_step
//    then topk_write).
//
// Keys map floats to unsigned integers of the same order: NaN above everything, -0.0 equal to
// 0.0; ties rank the lower column first. This is the CPU kernel's order.
#include "common.cuh"

__device__ __forceinline__ uint32_t key_of(float v) {
  uint32_t u = __float_as_uint(v);
  if (isnan(v)) return 0xffffffffu;
  if (u == 0x80000000u) u = 0;
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__device__ __forceinline__ uint64_t key_of(double v) {
  uint64_t u = (uint64_t)__double_as_longlong(v);
  if (isnan(v)) return 0xffffffffffffffffull;
  if (u == 0x8000000000000000ull) u = 0;
  return (u & 0x8000000000000000ull) ? ~u : (u | 0x8000000000000000ull);
}

// Padding slots: key 0 (no float maps to it) and the largest column, so they sort last.
#define PAD_ID 0xffffffffu

// Elements each thread loads before using them, so that enough loads are in flight.
#define UNROLL 8

template <typename K>
__device__ __forceinline__ bool before(K ka, uint32_t ia, K kb, uint32_t ib) {
  return ka > kb || (ka == kb && ia < ib);
}

// The key of the k-th largest element of `row` and how many elements equal to it are among the
// k largest (the rank of the k-th within its equals, from 1).
template <typename T, typename K>
__device__ void radix_select(const T *row, size_t cols, size_t k, K *kth, size_t *need_eq) {
  __shared__ unsigned hist[256];
  __shared__ K s_prefix;
  __shared__ size_t s_rank;
  const unsigned lane = threadIdx.x & 31;
  K prefix = 0, mask = 0;
  size_t rank = k;
  for (int shift = (int)(sizeof(K) * 8) - 8; shift >= 0; shift -= 8) {
    for (unsigned i = threadIdx.x; i < 256; i += blockDim.x) hist[i] = 0;
    __syncthreads();
    for (size_t base = 0; base < cols; base += (size_t)blockDim.x * UNROLL) {
      K keys[UNROLL];
#pragma unroll
      for (int u = 0; u < UNROLL; ++u) {
        const size_t i = base + (size_t)u * blockDim.x + threadIdx.x;
        keys[u] = i < cols ? key_of(row[i]) : 0;
      }
#pragma unroll
      for (int u = 0; u < UNROLL; ++u) {
        const size_t i = base + (size_t)u * blockDim.x + threadIdx.x;
        const bool match = i < cols && (keys[u] & mask) == prefix;
        const unsigned digit = match ? (unsigned)((keys[u] >> shift) & 255) : 256u;
        const unsigned peers = __match_any_sync(0xffffffffu, digit);
        if (match && lane == (unsigned)(__ffs(peers) - 1)) atomicAdd(&hist[digit], __popc(peers));
      }
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      unsigned d = 255;
      while (d > 0 && rank > hist[d]) {
        rank -= hist[d];
        --d;
      }
      s_prefix = prefix | ((K)d << shift);
      s_rank = rank;
    }
    __syncthreads();
    prefix = s_prefix;
    rank = s_rank;
    mask |= (K)255 << shift;
  }
  *kth = prefix;
  *need_eq = rank;
}

// Writes the k best (key, column) pairs of `row` into keys/ids (p slots, padding after k).
template <typename T, typename K>
__device__ void collect(const T *row, size_t cols, size_t k, size_t p, K kth, size_t need_eq,
                        K *keys, uint32_t *ids) {
  __shared__ unsigned n_greater, warp_offset[32], tile_eq;
  __shared__ size_t eq_base;
  const unsigned lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  const size_t first_eq = k - need_eq;
  if (threadIdx.x == 0) {
    n_greater = 0;
    eq_base = 0;
  }
  __syncthreads();
  for (size_t base = 0; base < cols; base += (size_t)blockDim.x * UNROLL) {
    K key[UNROLL];
    bool any_eq = false;
#pragma unroll
    for (int u = 0; u < UNROLL; ++u) {
      const size_t i = base + (size_t)u * blockDim.x + threadIdx.x;
      key[u] = i < cols ? key_of(row[i]) : 0;
      if (i < cols && key[u] > kth) {
        const unsigned slot = atomicAdd(&n_greater, 1u);
        keys[slot] = key[u];
        ids[slot] = (uint32_t)i;
      }
      any_eq |= i < cols && key[u] == kth;
    }
    // Equal keys are taken in column order: a block-wide scan per group of the tile, needed only
    // while equal keys are still missing (eq_base is the same in every thread).
    if (!__syncthreads_or(any_eq) || eq_base >= need_eq) continue;
    for (int u = 0; u < UNROLL; ++u) {
      const size_t i = base + (size_t)u * blockDim.x + threadIdx.x;
      const bool eq = i < cols && key[u] == kth;
      const unsigned ballot = __ballot_sync(0xffffffffu, eq);
      if (lane == 0) warp_offset[warp] = __popc(ballot);
      __syncthreads();
      if (warp == 0) {
        const unsigned v = lane < warps ? warp_offset[lane] : 0;
        unsigned incl = v;
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
          const unsigned up = __shfl_up_sync(0xffffffffu, incl, o);
          if (lane >= (unsigned)o) incl += up;
        }
        warp_offset[lane] = incl - v;
        if (lane == 31) tile_eq = incl;
      }
      __syncthreads();
      const size_t r = eq_base + warp_offset[warp] + __popc(ballot & ((1u << lane) - 1u));
      if (eq && r < need_eq) {
        keys[first_eq + r] = key[u];
        ids[first_eq + r] = (uint32_t)i;
      }
      __syncthreads();
      if (threadIdx.x == 0) eq_base += tile_eq;
      __syncthreads();
    }
  }
  for (size_t s = k + threadIdx.x; s < p; s += blockDim.x) {
    keys[s] = 0;
    ids[s] = PAD_ID;
  }
}

template <typename T, typename K>
__device__ void topk_select(const T *x, size_t rows, size_t cols, size_t k, size_t p, K *keys,
                            uint32_t *ids) {
  for (size_t r = blockIdx.x; r < rows; r += gridDim.x) {
    K kth;
    size_t need_eq;
    radix_select<T, K>(x + r * cols, cols, k, &kth, &need_eq);
    collect<T, K>(x + r * cols, cols, k, p, kth, need_eq, keys + r * p, ids + r * p);
    __syncthreads();
  }
}

// One compare-exchange of the bitonic network for the pair (i, i + stride) of a row.
template <typename K>
__device__ __forceinline__ void exchange(K *keys, uint32_t *ids, size_t i, size_t stride,
                                         size_t size) {
  const size_t j = i + stride;
  const bool up = (i & size) == 0;
  const K ki = keys[i], kj = keys[j];
  const uint32_t ii = ids[i], ij = ids[j];
  if (up ? before(kj, ij, ki, ii) : before(ki, ii, kj, ij)) {
    keys[i] = kj;
    keys[j] = ki;
    ids[i] = ij;
    ids[j] = ii;
  }
}

// The first of the two slots of pair t in a stage of the given stride.
__device__ __forceinline__ size_t pair_start(size_t t, size_t stride) {
  return 2 * stride * (t / stride) + (t % stride);
}

// Sorts each row of p (a power of two) pairs in shared memory, then writes the first k columns.
template <typename K>
__device__ void sort_shared(const K *keys, const uint32_t *ids, size_t rows, size_t p, size_t k,
                            uint32_t *out) {
  DYNAMIC_SHARED(unsigned char, smem);
  K *sk = (K *)smem;
  uint32_t *si = (uint32_t *)(sk + p);
  for (size_t r = blockIdx.x; r < rows; r += gridDim.x) {
    for (size_t s = threadIdx.x; s < p; s += blockDim.x) {
      sk[s] = keys[r * p + s];
      si[s] = ids[r * p + s];
    }
    __syncthreads();
    for (size_t size = 2; size <= p; size <<= 1) {
      for (size_t stride = size >> 1; stride > 0; stride >>= 1) {
        for (size_t t = threadIdx.x; t < p / 2; t += blockDim.x) {
          exchange(sk, si, pair_start(t, stride), stride, size);
        }
        __syncthreads();
      }
    }
    for (size_t s = threadIdx.x; s < k; s += blockDim.x) out[r * k + s] = si[s];
    __syncthreads();
  }
}

// One stage (size, stride) of the bitonic network over every row, in global memory.
template <typename K>
__device__ void sort_step(K *keys, uint32_t *ids, size_t rows, size_t p, size_t size,
                          size_t stride) {
  const size_t half = p / 2;
  GRID_LOOP(t, rows * half) {
    const size_t r = t / half;
    exchange(keys + r * p, ids + r * p, pair_start(t % half, stride), stride, size);
  }
}

extern "C" __global__ void topk_write(const uint32_t *ids, size_t rows, size_t p, size_t k,
                                      uint32_t *out) {
  GRID_LOOP(t, rows * k) { out[t] = ids[(t / k) * p + t % k]; }
}

#define TOPK(T, K, S)                                                                      \
  extern "C" __global__ void topk_select_##S(const T *x, size_t rows, size_t cols,         \
                                             size_t k, size_t p, K *keys, uint32_t *ids) { \
    topk_select<T, K>(x, rows, cols, k, p, keys, ids);                                     \
  }                                                                                        \
  extern "C" __global__ void topk_sort_shared_##S(const K *keys, const uint32_t *ids,      \
                                                  size_t rows, size_t p, size_t k,         \
                                                  uint32_t *out) {                         \
    sort_shared<K>(keys, ids, rows, p, k, out);                                            \
  }                                                                                        \
  extern "C" __global__ void topk_sort_step_##S(K *keys, uint32_t *ids, size_t rows,       \
                                                size_t p, size_t size, size_t stride) {    \
    sort_step<K>(keys, ids, rows, p, size, stride);                                        \
  }
TOPK(float, uint32_t, f32)
TOPK(double, uint64_t, f64)
