// A symbolic scalar: the reference model evaluated over expressions instead of numbers, for the
// prover (proofs/). Expressions are nodes of a hash-consed DAG:
//
//   symbols     one per weight entry, per embedding entry of a token, per learned PE entry, ...
//   constants   rationals (exact)
//   sums        flattened, children as a sorted multiset with rational coefficients
//   products    flattened, children as a sorted multiset with integer exponents
//   calls       uninterpreted functions: exp, rsqrt, Φ, the tanh gate, relu, normalise (rounding),
//               sinusoid entries, and max (whose arguments form a sorted multiset)
//
// Sums and products are in AC-normal form, and equal nodes are shared, so two expressions that differ
// only by the order of their summands or factors ARE the same node: equality of node ids is a proof of
// equality for every real value of the symbols and every interpretation of the functions.
// Products are not distributed over sums; the normal form is only as strong as AC needs to be.
//
// Nodes live in an ExprStore; an ExprScope makes a store current on this thread (the model code
// creates constants such as T(0) without naming a store).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "symbreak/exact.hpp"

namespace symbreak {

class ExprStore;

class Expr {
 public:
  Expr();           // the constant 0 of the current store
  Expr(int value);  // NOLINT: a constant (the model code writes T(0), T(1), T(d))
  Expr(const Exact& value);

  static Expr symbol(const std::string& name);
  static Expr call(const std::string& function, std::vector<Expr> args, bool symmetric = false);

  std::uint32_t id() const { return id_; }
  bool same(const Expr& other) const { return id_ == other.id_; }
  bool operator==(const Expr& other) const { return id_ == other.id_; }

  Expr& operator+=(const Expr& o);
  Expr& operator-=(const Expr& o);
  Expr& operator*=(const Expr& o);
  Expr& operator/=(const Expr& o);
  friend Expr operator+(const Expr& a, const Expr& b);
  friend Expr operator-(const Expr& a, const Expr& b);
  friend Expr operator*(const Expr& a, const Expr& b);
  friend Expr operator/(const Expr& a, const Expr& b);
  friend Expr operator-(const Expr& a);

  std::string str(int depth = 3) const;  // a readable rendering, elided below `depth`

 private:
  friend class ExprStore;
  explicit Expr(std::uint32_t id, int) : id_(id) {}
  std::uint32_t id_ = 0;
};

class ExprStore {
 public:
  enum class Kind : std::uint8_t { constant, symbol, sum, product, call };
  struct Node {
    Kind kind;
    std::string name;                                    // symbol or function
    Exact value;                                         // constant, or a sum's constant term
    std::vector<std::pair<std::uint32_t, Exact>> terms;  // sum: (child, coefficient), sorted by child
    std::vector<std::pair<std::uint32_t, int>> factors;  // product: (child, exponent), sorted by child
    std::vector<std::uint32_t> args;                     // call
  };

  ExprStore();
  std::size_t size() const { return nodes_.size(); }
  const Node& node(std::uint32_t id) const { return nodes_[id]; }

  Expr constant(const Exact& value);
  Expr symbol(const std::string& name);
  Expr sum(const std::vector<std::pair<Expr, Exact>>& terms, const Exact& constant);
  Expr product(const std::vector<std::pair<Expr, int>>& factors);
  Expr call(const std::string& function, std::vector<Expr> args, bool symmetric);

  Expr add(const Expr& a, const Expr& b, const Exact& b_coefficient);
  Expr multiply(const Expr& a, const Expr& b, int b_exponent);
  std::string render(std::uint32_t id, int depth) const;

  static ExprStore& current();  // throws std::logic_error outside an ExprScope

 private:
  std::uint32_t intern(Node node);
  // A node's content as a sum: its terms and constant (a non-sum x is 1·x + 0).
  void as_sum(std::uint32_t id, const Exact& scale, std::vector<std::pair<std::uint32_t, Exact>>& terms, Exact& constant) const;
  std::vector<Node> nodes_;
  std::unordered_multimap<std::uint64_t, std::uint32_t> index_;  // hash of a node's content → its id
};

// Makes `store` current on this thread for its lifetime.
class ExprScope {
 public:
  explicit ExprScope(ExprStore& store);
  ~ExprScope();
  ExprScope(const ExprScope&) = delete;
  ExprScope& operator=(const ExprScope&) = delete;

 private:
  ExprStore* previous_;
};

}  // namespace symbreak
