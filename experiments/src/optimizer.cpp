#include "symbreak/experiments/optimizer.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <istream>
#include <ostream>
#include <stdexcept>

#include "symbreak/rng.hpp"

namespace symbreak::experiments {

void write_u64(std::ostream& out, std::uint64_t v) { out.write(reinterpret_cast<const char*>(&v), sizeof v); }
std::uint64_t read_u64(std::istream& in) {
  std::uint64_t v = 0;
  if (!in.read(reinterpret_cast<char*>(&v), sizeof v)) throw std::runtime_error("checkpoint: truncated");
  return v;
}
void write_f64(std::ostream& out, double v) { out.write(reinterpret_cast<const char*>(&v), sizeof v); }
double read_f64(std::istream& in) {
  double v = 0;
  if (!in.read(reinterpret_cast<char*>(&v), sizeof v)) throw std::runtime_error("checkpoint: truncated");
  return v;
}
void write_floats(std::ostream& out, const std::vector<float>& v) {
  write_u64(out, v.size());
  out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
}
std::vector<float> read_float_vector(std::istream& in) {
  const std::uint64_t n = read_u64(in);
  if (n > (std::uint64_t(1) << 34)) throw std::runtime_error("checkpoint: implausible tensor size");
  std::vector<float> v(n);
  if (!in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(float))))
    throw std::runtime_error("checkpoint: truncated");
  return v;
}
void read_floats(std::istream& in, std::vector<float>& v) {
  const std::uint64_t n = read_u64(in);
  if (n != v.size())
    throw std::runtime_error("checkpoint: a tensor has " + std::to_string(n) + " values, expected " + std::to_string(v.size()));
  if (!in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(float))))
    throw std::runtime_error("checkpoint: truncated");
}

void for_each_chunk(const std::vector<std::size_t>& sizes, const std::function<void(std::size_t, std::size_t, std::size_t)>& f) {
  constexpr std::size_t kChunk = 1 << 15;
  std::vector<std::array<std::size_t, 3>> chunks;
  for (std::size_t i = 0; i < sizes.size(); ++i)
    for (std::size_t b = 0; b < sizes[i]; b += kChunk) chunks.push_back({i, b, std::min(sizes[i], b + kChunk)});
  const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(chunks.size());
  // Small models stay on one core: their tensors live in its cache, and a parallel region costs more.
  std::size_t total = 0;
  for (std::size_t s : sizes) total += s;
#pragma omp parallel for schedule(static) if (total >= (std::size_t(1) << 20))
  for (std::ptrdiff_t c = 0; c < n; ++c) f(chunks[c][0], chunks[c][1], chunks[c][2]);
}

double gradient_norm(const std::vector<const Tensor<float>*>& grads) {
  // Per-chunk sums in parallel, then added in chunk order: the same bits for any schedule.
  std::vector<std::size_t> sizes;
  for (const auto* g : grads) sizes.push_back(g->size());
  std::vector<std::vector<double>> sums(grads.size());
  for (std::size_t i = 0; i < grads.size(); ++i) sums[i].assign((sizes[i] >> 15) + 1, 0.0);
  for_each_chunk(sizes, [&](std::size_t i, std::size_t b, std::size_t e) {
    double s = 0;
    const float* x = grads[i]->data.data();
    for (std::size_t k = b; k < e; ++k) s += static_cast<double>(x[k]) * x[k];
    sums[i][b >> 15] = s;
  });
  double sum = 0;
  for (const auto& per_tensor : sums)
    for (double s : per_tensor) sum += s;
  return std::sqrt(sum);
}

double clip_scale(double norm, double max_norm) { return max_norm > 0 && norm > max_norm ? max_norm / (norm + 1e-6) : 1.0; }

namespace {

std::vector<std::size_t> sizes_of(const std::vector<Tensor<float>*>& tensors) {
  std::vector<std::size_t> s;
  for (const auto* t : tensors) s.push_back(t->size());
  return s;
}

// Zero-initialised state tensors shaped like the parameters.
std::vector<std::vector<float>> like(const std::vector<Tensor<float>*>& params) {
  std::vector<std::vector<float>> s;
  for (const auto* p : params) s.emplace_back(p->size(), 0.0f);
  return s;
}

// PyTorch's AdamW: decoupled weight decay (matrices only, as nanoGPT), bias-corrected moments. The
// scalars are formed in double and rounded once, and each element's update is the same float32
// operations in the same order as torch.optim.AdamW's (1.13, single-tensor path), so the two round
// alike: p·(1 − lr·wd); m·β1 + (1−β1)·g; v·β2 + ((1−β2)·g)·g; p + (−lr/(1−β1^t))·m / (√v/√(1−β2^t) + ε).
// (Forming 1 − β2 in float from a rounded β2 gives 0.02000004 for 0.02: the trajectory-parity test,
// experiments/parity, caught that.)
class AdamW final : public Optimizer {
 public:
  explicit AdamW(const OptimizerConfig& c) : c_(c) {}
  void step(const std::vector<Tensor<float>*>& params, const std::vector<const Tensor<float>*>& grads, double, double lr,
            double grad_scale) override {
    if (m_.empty()) m_ = v_ = like(params);
    const float gs = static_cast<float>(grad_scale);
    ++t_;
    const float b1 = static_cast<float>(c_.beta1), b2 = static_cast<float>(c_.beta2);
    const float one_minus_b1 = static_cast<float>(1 - c_.beta1), one_minus_b2 = static_cast<float>(1 - c_.beta2);
    const float neg_step_size = static_cast<float>(-(lr / (1 - std::pow(c_.beta1, static_cast<double>(t_)))));
    const float correction2_sqrt = static_cast<float>(std::sqrt(1 - std::pow(c_.beta2, static_cast<double>(t_))));
    const float eps = static_cast<float>(c_.eps), keep = static_cast<float>(1 - lr * c_.weight_decay);
    for_each_chunk(sizes_of(params), [&](std::size_t i, std::size_t begin, std::size_t end) {
      float* p = params[i]->data.data();
      const float* g = grads[i]->data.data();
      float* m = m_[i].data();
      float* v = v_[i].data();
      const bool decays = params[i]->rows > 1 && params[i]->cols > 1;
      for (std::size_t k = begin; k < end; ++k) {
        if (decays) p[k] *= keep;
        const float gk = g[k] * gs;
        m[k] = m[k] * b1 + one_minus_b1 * gk;
        v[k] = v[k] * b2 + one_minus_b2 * gk * gk;
        p[k] += neg_step_size * m[k] / (std::sqrt(v[k]) / correction2_sqrt + eps);
      }
    });
  }
  void save(std::ostream& out) const override {
    write_u64(out, t_);
    write_u64(out, m_.size());
    for (std::size_t i = 0; i < m_.size(); ++i) {
      write_floats(out, m_[i]);
      write_floats(out, v_[i]);
    }
  }
  NamedState state() const override { return {{"exp_avg", &m_}, {"exp_avg_sq", &v_}}; }
  void load(std::istream& in) override {
    t_ = read_u64(in);
    const std::uint64_t n = read_u64(in);
    m_.assign(n, {});
    v_.assign(n, {});
    for (std::size_t i = 0; i < n; ++i) {
      m_[i] = read_float_vector(in);
      v_[i] = read_float_vector(in);
    }
  }

 private:
  OptimizerConfig c_;
  std::uint64_t t_ = 0;
  std::vector<std::vector<float>> m_, v_;
};

// PyTorch's SGD: buf = momentum·buf + g; Nesterov uses g + momentum·buf; L2 weight decay in g.
class Sgd final : public Optimizer {
 public:
  explicit Sgd(const OptimizerConfig& c) : c_(c) {}
  void step(const std::vector<Tensor<float>*>& params, const std::vector<const Tensor<float>*>& grads, double, double lr,
            double grad_scale) override {
    const bool first = buf_.empty();
    const float gs = static_cast<float>(grad_scale);
    if (first) buf_ = like(params);
    const float mu = static_cast<float>(c_.momentum), wd = static_cast<float>(c_.weight_decay), rate = static_cast<float>(lr);
    for (std::size_t i = 0; i < params.size(); ++i) {
      float* p = params[i]->data.data();
      const float* g = grads[i]->data.data();
      float* b = buf_[i].data();
      for (std::size_t k = 0; k < params[i]->size(); ++k) {
        const float gk = g[k] * gs + wd * p[k];
        b[k] = first ? gk : mu * b[k] + gk;
        p[k] -= rate * (c_.nesterov ? gk + mu * b[k] : b[k]);
      }
    }
  }
  void save(std::ostream& out) const override {
    write_u64(out, buf_.size());
    for (const auto& b : buf_) write_floats(out, b);
  }
  NamedState state() const override { return {{"momentum_buffer", &buf_}}; }
  void load(std::istream& in) override {
    const std::uint64_t n = read_u64(in);
    buf_.assign(n, {});
    for (auto& b : buf_) b = read_float_vector(in);
  }

 private:
  OptimizerConfig c_;
  std::vector<std::vector<float>> buf_;
};

// Energy Conserving Descent (arXiv 2601.22257, after its public reference code): the velocity p has a
// fixed speed, and the gradient only turns it. For each tensor,
//   p ← p + (−½·lr·η·d/(d−1)) / (F − F0) · (g − p (p·g)),
// the parameters move by lr·p, and p is renormalised (with optional noise ν). The learning rate is
// rescaled by 1/√η and ν by 1/√d, as in the reference. F0 must stay below the reachable loss.
class Ecd final : public Optimizer {
 public:
  Ecd(const OptimizerConfig& c, std::uint64_t seed) : c_(c), rng_(stream_seed(seed, "ecd.noise")) {}
  void step(const std::vector<Tensor<float>*>& params, const std::vector<const Tensor<float>*>& grads, double loss,
            double lr_scheduled, double grad_scale) override {
    const double lr = lr_scheduled / std::sqrt(c_.eta);
    double q2 = 0;
    if (c_.weight_decay != 0)
      for (const auto* p : params)
        for (float x : p->data) q2 += static_cast<double>(x) * x;
    if (p_.empty()) {  // start along −g, at unit speed
      p_ = like(params);
      double norm2 = 0;
      dim_ = 0;
      for (std::size_t i = 0; i < params.size(); ++i) {
        dim_ += params[i]->size();
        for (std::size_t k = 0; k < params[i]->size(); ++k) {
          p_[i][k] = static_cast<float>(-grads[i]->data[k] * grad_scale);
          norm2 += static_cast<double>(p_[i][k]) * p_[i][k];
        }
      }
      const float scale = static_cast<float>(1 / std::sqrt(std::max(norm2, 1e-300)));
      for (auto& t : p_)
        for (float& x : t) x *= scale;
      p2_ = 1;
    }
    const double energy = loss + 0.5 * c_.weight_decay * q2 - c_.F0;
    if (energy <= 1e-40) return;  // at or below F0 the dynamics stop
    const double normalisation = std::abs(1 - p2_) < 1e-10 || p2_ == 0 ? 1.0 : std::sqrt(1 / p2_);
    const double prefactor = -0.5 * lr * c_.eta * static_cast<double>(dim_) / static_cast<double>(dim_ - 1) / energy;
    p2_ = 0;
    for (std::size_t i = 0; i < params.size(); ++i) {
      std::vector<float>& p = p_[i];
      const float* g = grads[i]->data.data();
      const float* q = params[i]->data.data();
      double dot = 0;
      for (std::size_t k = 0; k < p.size(); ++k) {
        p[k] = static_cast<float>(p[k] * normalisation);
        dot += static_cast<double>(p[k]) * (g[k] * grad_scale + c_.weight_decay * q[k]);
      }
      for (std::size_t k = 0; k < p.size(); ++k) {
        p[k] += static_cast<float>(prefactor * ((g[k] * grad_scale + c_.weight_decay * q[k]) - p[k] * dot));
        p2_ += static_cast<double>(p[k]) * p[k];
      }
    }
    const double pnorm = std::sqrt(p2_), nu = c_.nu / std::sqrt(static_cast<double>(dim_));
    double p2_new = 0;
    for (std::size_t i = 0; i < params.size(); ++i) {
      float* q = params[i]->data.data();
      for (std::size_t k = 0; k < p_[i].size(); ++k) {
        q[k] += static_cast<float>(lr * p_[i][k]);
        p_[i][k] = static_cast<float>(p_[i][k] / pnorm + (nu > 0 ? nu * rng_.normal() : 0.0));
        p2_new += static_cast<double>(p_[i][k]) * p_[i][k];
      }
    }
    const double rescale = pnorm / std::sqrt(p2_new);
    for (auto& t : p_)
      for (float& x : t) x = static_cast<float>(x * rescale);
    p2_ = pnorm * pnorm;
  }
  void save(std::ostream& out) const override {
    write_u64(out, dim_);
    write_f64(out, p2_);
    write_u64(out, rng_.state());
    write_u64(out, p_.size());
    for (const auto& p : p_) write_floats(out, p);
  }
  void load(std::istream& in) override {
    dim_ = read_u64(in);
    p2_ = read_f64(in);
    rng_ = Rng(read_u64(in));
    const std::uint64_t n = read_u64(in);
    p_.assign(n, {});
    for (auto& p : p_) p = read_float_vector(in);
  }

 private:
  OptimizerConfig c_;
  Rng rng_;
  std::vector<std::vector<float>> p_;
  std::uint64_t dim_ = 0;
  double p2_ = 1;
};

}  // namespace

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config, std::uint64_t seed) {
  if (config.name == "adamw") return std::make_unique<AdamW>(config);
  if (config.name == "sgd") return std::make_unique<Sgd>(config);
  if (config.name == "ecd") return std::make_unique<Ecd>(config, seed);
  if (config.name == "soap") return make_soap(config);
  throw std::invalid_argument("unknown optimizer \"" + config.name + "\" (allowed: adamw, sgd, ecd, soap)");
}

}  // namespace symbreak::experiments
