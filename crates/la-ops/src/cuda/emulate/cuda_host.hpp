// Runs la-ops' CUDA kernels on the CPU, for tests on machines without a GPU: each CUDA thread of
// a block is an OS thread, blocks run one after another, and what the kernels use of CUDA is
// emulated: __syncthreads (a barrier), the warp intrinsics (exchanges between the 32 threads of
// a warp at per-warp barriers), atomics (std::atomic_ref), shared memory (function statics, one
// block alive at a time: the threads of a launch walk the blocks in step) and dynamic shared
// memory. Kernels that rely on anything else, or call
// a barrier or warp intrinsic from divergent code, do not run here (they hang or fail).
#pragma once
#define LA_OPS_EMULATION 1

#include <algorithm>
#include <array>
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <type_traits>
#include <vector>

using std::isnan;
using std::sqrt;

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
};
struct double2 {
  double x, y;
};
inline double2 make_double2(double x, double y) { return {x, y}; }

inline thread_local dim3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;

#define __global__
#define __device__
#define __forceinline__ inline
// One block is alive at a time, so a function-local static is that block's shared memory.
#define __shared__ static

namespace la_emu {

// The synchronisation state of the running block.
struct Block {
  explicit Block(unsigned threads)
      : all(threads), lanes(threads), flag(0) {
    for (unsigned w = 0; w < threads / 32; ++w) warps.push_back(std::make_unique<std::barrier<>>(32));
  }
  std::barrier<> all;
  std::vector<std::unique_ptr<std::barrier<>>> warps;
  std::vector<uint64_t> lanes;  // one exchange slot per thread
  std::atomic<int> flag;
};

inline Block *block = nullptr;
inline std::vector<unsigned char> dynamic_shared;

inline std::barrier<> &warp_barrier() { return *block->warps[threadIdx.x / 32]; }

template <typename T> uint64_t bits(T v) {
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <typename T> T from_bits(uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}

// Every lane publishes `v`; returns the 32 values of its warp (all lanes must call).
template <typename T> std::array<T, 32> warp_values(T v) {
  const unsigned base = threadIdx.x & ~31u;
  block->lanes[threadIdx.x] = bits(v);
  warp_barrier().arrive_and_wait();
  std::array<T, 32> all;
  for (unsigned l = 0; l < 32; ++l) all[l] = from_bits<T>(block->lanes[base + l]);
  warp_barrier().arrive_and_wait();
  return all;
}

// Runs `kernel` on a (grid.x, grid.y) grid of blocks of blk.x threads: the threads of one block
// are started once and walk the blocks in step, meeting at a barrier between blocks.
inline void launch(dim3 grid, dim3 blk, size_t shared_bytes, const std::function<void()> &kernel) {
  gridDim = grid;
  blockDim = blk;
  dynamic_shared.assign(shared_bytes + 16, 0xAB);
  Block b(blk.x);
  block = &b;
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < blk.x; ++t) {
    threads.emplace_back([&, t] {
      threadIdx = dim3{t, 0, 0};
      for (unsigned by = 0; by < grid.y; ++by) {
        for (unsigned bx = 0; bx < grid.x; ++bx) {
          blockIdx = dim3{bx, by, 0};
          kernel();
          b.all.arrive_and_wait();
        }
      }
    });
  }
  for (auto &t : threads) t.join();
  block = nullptr;
}

}  // namespace la_emu

#define DYNAMIC_SHARED(T, name) T *name = reinterpret_cast<T *>(la_emu::dynamic_shared.data())

inline void __syncthreads() { la_emu::block->all.arrive_and_wait(); }

inline int __syncthreads_or(int p) {
  auto *b = la_emu::block;
  b->all.arrive_and_wait();
  if (p) b->flag.store(1);
  b->all.arrive_and_wait();
  const int r = b->flag.load();
  b->all.arrive_and_wait();
  if (threadIdx.x == 0) b->flag.store(0);
  b->all.arrive_and_wait();
  return r;
}

template <typename T> T __shfl_xor_sync(unsigned, T v, int o) {
  return la_emu::warp_values(v)[(threadIdx.x & 31) ^ (unsigned)o];
}

template <typename T> T __shfl_up_sync(unsigned, T v, int d) {
  const unsigned lane = threadIdx.x & 31;
  const auto all = la_emu::warp_values(v);
  return lane >= (unsigned)d ? all[lane - d] : v;
}

inline unsigned __ballot_sync(unsigned, int p) {
  const auto all = la_emu::warp_values<int>(p ? 1 : 0);
  unsigned mask = 0;
  for (unsigned l = 0; l < 32; ++l) mask |= (all[l] ? 1u : 0u) << l;
  return mask;
}

inline unsigned __match_any_sync(unsigned, unsigned v) {
  const auto all = la_emu::warp_values(v);
  unsigned mask = 0;
  for (unsigned l = 0; l < 32; ++l) mask |= (all[l] == v ? 1u : 0u) << l;
  return mask;
}

template <typename T> T atomicAdd(T *addr, std::type_identity_t<T> v) {
  return std::atomic_ref<T>(*addr).fetch_add(v);
}

inline unsigned long long atomicMin(unsigned long long *addr, unsigned long long v) {
  std::atomic_ref<unsigned long long> a(*addr);
  unsigned long long old = a.load();
  while (v < old && !a.compare_exchange_weak(old, v)) {
  }
  return old;
}

inline int __popc(unsigned v) { return __builtin_popcount(v); }
inline int __ffs(unsigned v) { return __builtin_ffs((int)v); }
inline unsigned __float_as_uint(float v) { return la_emu::from_bits<unsigned>(la_emu::bits(v)); }
inline float __int_as_float(int v) { return la_emu::from_bits<float>(la_emu::bits(v)); }
inline long long __double_as_longlong(double v) { return la_emu::from_bits<long long>(la_emu::bits(v)); }
inline double __longlong_as_double(long long v) { return la_emu::from_bits<double>(la_emu::bits(v)); }
