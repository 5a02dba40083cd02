// float32 kernels on Eigen's packet math, for the float fast paths of layers.cpp and backward.cpp.
//
// Why not Eigen::Map expressions: for unaligned maps Eigen peels a scalar prefix up to the first
// aligned address, and its scalar and packet paths round differently (packet exp vs std::exp; fused
// vs separate multiply-add; a different summation order in reductions). Results would then depend on
// where the allocator put a buffer, and training would lose "same seed, same bits". Here every element
// goes through the packet path from index 0 (the tail through a padded buffer) and every reduction
// sums lanes in one fixed order, so results depend only on the values and the length.
#pragma once

#include <Eigen/Core>
#include <unsupported/Eigen/SpecialFunctions>

#include <algorithm>
#include <cstddef>

namespace symbreak::simd {

namespace ei = Eigen::internal;
using Packet = ei::packet_traits<float>::type;
constexpr int kLanes = static_cast<int>(sizeof(Packet) / sizeof(float));

inline Packet load_tail(const float* p, std::size_t n, float fill = 0.0f) {
  alignas(64) float buffer[kLanes];
  for (int i = 0; i < kLanes; ++i) buffer[i] = static_cast<std::size_t>(i) < n ? p[i] : fill;
  return ei::pload<Packet>(buffer);
}

inline void store_tail(float* p, const Packet& v, std::size_t n) {
  alignas(64) float buffer[kLanes];
  ei::pstore(buffer, v);
  std::copy_n(buffer, n, p);
}

// out[i] = f(a[i]) for i < n, f a function of packets.
template <class F>
void map(float* out, const float* a, std::size_t n, F f) {
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) ei::pstoreu(out + i, f(ei::ploadu<Packet>(a + i)));
  if (i < n) store_tail(out + i, f(load_tail(a + i, n - i)), n - i);
}

// out[i] = f(a[i], b[i]).
template <class F>
void map(float* out, const float* a, const float* b, std::size_t n, F f) {
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) ei::pstoreu(out + i, f(ei::ploadu<Packet>(a + i), ei::ploadu<Packet>(b + i)));
  if (i < n) store_tail(out + i, f(load_tail(a + i, n - i), load_tail(b + i, n - i)), n - i);
}

// out[i] = f(a[i], b[i], c[i]).
template <class F>
void map(float* out, const float* a, const float* b, const float* c, std::size_t n, F f) {
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    ei::pstoreu(out + i, f(ei::ploadu<Packet>(a + i), ei::ploadu<Packet>(b + i), ei::ploadu<Packet>(c + i)));
  if (i < n) store_tail(out + i, f(load_tail(a + i, n - i), load_tail(b + i, n - i), load_tail(c + i, n - i)), n - i);
}

// Σ f(a[i]) over i < n. The tail is padded with `fill`, which f must map to zero.
template <class F>
float sum(const float* a, std::size_t n, F f, float fill = 0.0f) {
  Packet acc = ei::pset1<Packet>(0.0f);
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) acc = ei::padd(acc, f(ei::ploadu<Packet>(a + i)));
  if (i < n) acc = ei::padd(acc, f(load_tail(a + i, n - i, fill)));
  return ei::predux(acc);
}

inline float sum(const float* a, std::size_t n) {
  return sum(a, n, [](const Packet& x) { return x; });
}

// Σ a[i]·b[i].
inline float dot(const float* a, const float* b, std::size_t n) {
  Packet acc = ei::pset1<Packet>(0.0f);
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) acc = ei::pmadd(ei::ploadu<Packet>(a + i), ei::ploadu<Packet>(b + i), acc);
  if (i < n) acc = ei::pmadd(load_tail(a + i, n - i), load_tail(b + i, n - i), acc);
  return ei::predux(acc);
}

// y[i] += alpha·x[i].
inline void axpy(float alpha, const float* x, float* y, std::size_t n) {
  const Packet a = ei::pset1<Packet>(alpha);
  map(y, x, y, n, [&](const Packet& xi, const Packet& yi) { return ei::pmadd(a, xi, yi); });
}

}  // namespace symbreak::simd
