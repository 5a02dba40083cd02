#include "symbreak/symbolic.hpp"

#include <algorithm>
#include <functional>
#include <sstream>
#include <stdexcept>

namespace symbreak {
namespace {

thread_local ExprStore* current_store = nullptr;

Exact power(const Exact& base, int exponent) {
  if (exponent < 0) {
    if (base == 0) throw std::domain_error("symbolic: division by the constant 0");
    return Exact(1) / power(base, -exponent);
  }
  Exact r(1);
  for (int i = 0; i < exponent; ++i) r *= base;
  return r;
}

}  // namespace

// ---- Expr --------------------------------------------------------------------------------------

Expr::Expr() : Expr(0) {}
Expr::Expr(int value) : id_(ExprStore::current().constant(Exact(value)).id_) {}
Expr::Expr(const Exact& value) : id_(ExprStore::current().constant(value).id_) {}
Expr Expr::symbol(const std::string& name) { return ExprStore::current().symbol(name); }
Expr Expr::call(const std::string& function, std::vector<Expr> args, bool symmetric) {
  return ExprStore::current().call(function, std::move(args), symmetric);
}

Expr& Expr::operator+=(const Expr& o) { return *this = *this + o; }
Expr& Expr::operator-=(const Expr& o) { return *this = *this - o; }
Expr& Expr::operator*=(const Expr& o) { return *this = *this * o; }
Expr& Expr::operator/=(const Expr& o) { return *this = *this / o; }
Expr operator+(const Expr& a, const Expr& b) { return ExprStore::current().add(a, b, Exact(1)); }
Expr operator-(const Expr& a, const Expr& b) { return ExprStore::current().add(a, b, Exact(-1)); }
Expr operator*(const Expr& a, const Expr& b) { return ExprStore::current().multiply(a, b, 1); }
Expr operator/(const Expr& a, const Expr& b) { return ExprStore::current().multiply(a, b, -1); }
Expr operator-(const Expr& a) { return ExprStore::current().add(Expr(0), a, Exact(-1)); }
std::string Expr::str(int depth) const { return ExprStore::current().render(id_, depth); }

// ---- ExprStore ---------------------------------------------------------------------------------

ExprStore::ExprStore() {
  constant(Exact(0));  // id 0
  constant(Exact(1));  // id 1
}

ExprStore& ExprStore::current() {
  if (!current_store) throw std::logic_error("symbolic: no ExprStore is current (create an ExprScope)");
  return *current_store;
}

ExprScope::ExprScope(ExprStore& store) : previous_(current_store) { current_store = &store; }
ExprScope::~ExprScope() { current_store = previous_; }

namespace {

std::uint64_t mix(std::uint64_t h, std::uint64_t v) {
  return (h ^ (v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2))) * 0x100000001B3ull;
}

std::uint64_t hash_exact(const Exact& q) {
  mpq_srcptr v = q.backend().data();
  std::uint64_t h = static_cast<std::uint64_t>(mpz_sgn(mpq_numref(v)) + 7);
  for (mpz_srcptr z : {mpq_numref(v), mpq_denref(v)}) {
    const std::size_t n = mpz_size(z);
    for (std::size_t i = 0; i < n; ++i) h = mix(h, mpz_getlimbn(z, i));
    h = mix(h, n);
  }
  return h;
}

bool same_content(const ExprStore::Node& a, const ExprStore::Node& b) {
  return a.kind == b.kind && a.name == b.name && a.value == b.value && a.terms == b.terms && a.factors == b.factors &&
         a.args == b.args;
}

}  // namespace

std::uint32_t ExprStore::intern(Node node) {
  // The key is a hash of the whole content; equal hashes are confirmed by comparing the nodes.
  std::uint64_t h = mix(static_cast<std::uint64_t>(node.kind), std::hash<std::string>{}(node.name));
  h = mix(h, hash_exact(node.value));
  for (const auto& [child, c] : node.terms) h = mix(mix(h, child), hash_exact(c));
  for (const auto& [child, e] : node.factors) h = mix(mix(h, child), static_cast<std::uint64_t>(e + (1 << 20)));
  for (std::uint32_t a : node.args) h = mix(h, a);
  const auto [first, last] = index_.equal_range(h);
  for (auto it = first; it != last; ++it)
    if (same_content(nodes_[it->second], node)) return it->second;
  const auto id = static_cast<std::uint32_t>(nodes_.size());
  nodes_.push_back(std::move(node));
  index_.emplace(h, id);
  return id;
}

Expr ExprStore::constant(const Exact& value) {
  Node n{Kind::constant, "", value, {}, {}, {}};
  return Expr(intern(std::move(n)), 0);
}

Expr ExprStore::symbol(const std::string& name) {
  Node n{Kind::symbol, name, Exact(0), {}, {}, {}};
  return Expr(intern(std::move(n)), 0);
}

void ExprStore::as_sum(std::uint32_t id, const Exact& scale, std::vector<std::pair<std::uint32_t, Exact>>& terms,
                       Exact& constant) const {
  const Node& n = nodes_[id];
  if (n.kind == Kind::constant) {
    constant += scale * n.value;
  } else if (n.kind == Kind::sum) {
    constant += scale * n.value;
    for (const auto& [child, c] : n.terms) terms.emplace_back(child, scale * c);
  } else {
    terms.emplace_back(id, scale);
  }
}

Expr ExprStore::sum(const std::vector<std::pair<Expr, Exact>>& parts, const Exact& constant_term) {
  std::vector<std::pair<std::uint32_t, Exact>> terms;
  Exact constant = constant_term;
  for (const auto& [e, c] : parts) as_sum(e.id(), c, terms, constant);
  std::sort(terms.begin(), terms.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::pair<std::uint32_t, Exact>> merged;
  for (auto& t : terms) {
    if (!merged.empty() && merged.back().first == t.first) merged.back().second += t.second;
    else merged.push_back(std::move(t));
  }
  std::erase_if(merged, [](const auto& t) { return t.second == 0; });
  if (merged.empty()) return this->constant(constant);
  if (merged.size() == 1 && merged[0].second == 1 && constant == 0) return Expr(merged[0].first, 0);
  Node n{Kind::sum, "", constant, std::move(merged), {}, {}};
  return Expr(intern(std::move(n)), 0);
}

Expr ExprStore::product(const std::vector<std::pair<Expr, int>>& parts) {
  Exact coefficient(1);
  std::vector<std::pair<std::uint32_t, int>> factors;
  for (const auto& [e, exponent] : parts) {
    const Node& n = nodes_[e.id()];
    if (n.kind == Kind::constant) {
      coefficient *= power(n.value, exponent);
    } else if (n.kind == Kind::product) {
      for (const auto& [child, k] : n.factors) factors.emplace_back(child, k * exponent);
    } else if (n.kind == Kind::sum && n.value == 0 && n.terms.size() == 1) {
      // c·m: the coefficient moves out, so (c·m)·x and c·(m·x) meet in one form.
      coefficient *= power(n.terms[0].second, exponent);
      const Node& m = nodes_[n.terms[0].first];
      if (m.kind == Kind::product) {
        for (const auto& [child, k] : m.factors) factors.emplace_back(child, k * exponent);
      } else {
        factors.emplace_back(n.terms[0].first, exponent);
      }
    } else {
      factors.emplace_back(e.id(), exponent);
    }
  }
  if (coefficient == 0) return constant(Exact(0));
  std::sort(factors.begin(), factors.end());
  std::vector<std::pair<std::uint32_t, int>> merged;
  for (const auto& f : factors) {
    if (!merged.empty() && merged.back().first == f.first) merged.back().second += f.second;
    else merged.push_back(f);
  }
  std::erase_if(merged, [](const auto& f) { return f.second == 0; });
  Expr monomial = constant(Exact(1));
  if (merged.size() == 1 && merged[0].second == 1) {
    monomial = Expr(merged[0].first, 0);
  } else if (!merged.empty()) {
    Node n{Kind::product, "", Exact(0), {}, std::move(merged), {}};
    monomial = Expr(intern(std::move(n)), 0);
  } else {
    return constant(coefficient);
  }
  return coefficient == 1 ? monomial : sum({{monomial, coefficient}}, Exact(0));
}

Expr ExprStore::call(const std::string& function, std::vector<Expr> args, bool symmetric) {
  std::vector<std::uint32_t> ids;
  for (const Expr& a : args) ids.push_back(a.id());
  if (symmetric) std::sort(ids.begin(), ids.end());
  Node n{Kind::call, function, Exact(0), {}, {}, std::move(ids)};
  return Expr(intern(std::move(n)), 0);
}

Expr ExprStore::add(const Expr& a, const Expr& b, const Exact& b_coefficient) {
  return sum({{a, Exact(1)}, {b, b_coefficient}}, Exact(0));
}

Expr ExprStore::multiply(const Expr& a, const Expr& b, int b_exponent) { return product({{a, 1}, {b, b_exponent}}); }

std::string ExprStore::render(std::uint32_t id, int depth) const {
  const Node& n = nodes_[id];
  if (n.kind == Kind::constant) return n.value.str();
  if (n.kind == Kind::symbol) return n.name;
  if (depth <= 0) return "…";
  std::string s;
  switch (n.kind) {
    case Kind::sum:
      for (const auto& [child, c] : n.terms)
        s += (s.empty() ? "" : " + ") + (c == 1 ? "" : c.str() + "·") + render(child, depth - 1);
      if (n.value != 0) s += " + " + n.value.str();
      return "(" + s + ")";
    case Kind::product:
      for (const auto& [child, e] : n.factors)
        s += (s.empty() ? "" : "·") + render(child, depth - 1) + (e == 1 ? "" : "^" + std::to_string(e));
      return s;
    case Kind::call:
      for (std::uint32_t a : n.args) s += (s.empty() ? "" : ", ") + render(a, depth - 1);
      return n.name + "(" + s + ")";
    default: return "?";
  }
}

}  // namespace symbreak
