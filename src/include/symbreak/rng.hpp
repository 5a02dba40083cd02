// A small, fully specified random number generator. std::normal_distribution differs between
// standard libraries, so seeded weights and data would not be reproducible with it.
#pragma once

#include <cmath>
#include <cstdint>
#include <string_view>

namespace symbreak {

// SplitMix64 (Steele, Lea, Flood 2014): passes BigCrush, one 64-bit state, trivially seekable.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Uniform integer in [0, n), n > 0 (Lemire's multiply-shift; the tiny bias is irrelevant here).
  std::uint64_t below(std::uint64_t n) { return static_cast<std::uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64); }
  // Standard normal by Box–Muller; one value per call keeps the stream position simple.
  double normal() {
    const double u1 = 1.0 - uniform();  // (0, 1]
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586476925 * u2);
  }
  std::uint64_t state() const { return state_; }

 private:
  std::uint64_t state_;
};

// A seed for a named stream: FNV-1a of the name, mixed with the base seed.
inline std::uint64_t stream_seed(std::uint64_t seed, std::string_view name) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char ch : name) h = (h ^ ch) * 0x100000001b3ull;
  Rng mix(seed ^ h);
  return mix.next();
}

}  // namespace symbreak
