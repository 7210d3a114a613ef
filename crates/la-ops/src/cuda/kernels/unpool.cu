// Scatter-add and gather of planes through flat indices: the max-unpool forward (and the pool
// backward), and its adjoint. An index outside its plane is skipped and its smallest flat
// position recorded in `bad` (initialised to ~0 by the caller), which the host then reports.
#include "common.cuh"

// out[plane][idx[i]] += src[plane][i] for `count` source elements in planes of `in_plane`;
// `out` is zeroed, planes of `out_plane`. Atomic, so repeated indices add up.
template <typename T>
__device__ void scatter_add(const T *src, const uint32_t *idx, T *out, size_t count,
                            size_t in_plane, size_t out_plane, unsigned long long *bad) {
  GRID_LOOP(i, count) {
    const size_t at = idx[i];
    if (at < out_plane) {
      atomicAdd(out + (i / in_plane) * out_plane + at, src[i]);
    } else {
      report_bad(bad, i);
    }
  }
}

// out[plane][i] = src[plane][idx[i]] for `count` output elements in planes of `out_plane`;
// source planes of `src_plane`.
template <typename T>
__device__ void gather(const T *src, const uint32_t *idx, T *out, size_t count, size_t out_plane,
                       size_t src_plane, unsigned long long *bad) {
  GRID_LOOP(i, count) {
    const size_t at = idx[i];
    if (at < src_plane) {
      out[i] = src[(i / out_plane) * src_plane + at];
    } else {
      out[i] = (T)0;
      report_bad(bad, i);
    }
  }
}

#define UNPOOL(T, SUFFIX)                                                                  \
  extern "C" __global__ void scatter_add_planes_##SUFFIX(                                  \
      const T *src, const uint32_t *idx, T *out, size_t count, size_t in_plane,            \
      size_t out_plane, unsigned long long *bad) {                                         \
    scatter_add<T>(src, idx, out, count, in_plane, out_plane, bad);                        \
  }                                                                                        \
  extern "C" __global__ void gather_planes_##SUFFIX(const T *src, const uint32_t *idx,     \
                                                    T *out, size_t count, size_t out_plane, \
                                                    size_t src_plane,                      \
                                                    unsigned long long *bad) {             \
    gather<T>(src, idx, out, count, out_plane, src_plane, bad);                            \
  }
UNPOOL(float, f32)
UNPOOL(double, f64)
