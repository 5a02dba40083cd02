// _symbreak: the C++ validator, in-process, for Python (pybind11). The Python package `symbreak`
// (python/symbreak) wraps it; nothing here re-implements the validator: a Python callable becomes a
// CallableKernelV2 and runs through the same suite, guards, reference and report as the CLI.
//
// The callable sees the version-2 problem as NumPy views of the validator's guarded buffers (no
// copy; strides as the case lays them out): f32 as float32, f16 as float16, bf16 as uint16 bit
// patterns (the Python layer turns them into torch.bfloat16 when asked).
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "symbreak/config.hpp"
#include "symbreak/permutation.hpp"
#include "symbreak/properties/function_target.hpp"
#include "symbreak/properties/report.hpp"
#include "symbreak/validate/validate.hpp"

namespace py = pybind11;
namespace props = symbreak::properties;
using namespace symbreak::validate;

namespace {

// A Python exception the caller must see (a callable returning the wrong shape, say): it aborts the
// validation instead of failing one case.
struct UsageError {
  py::error_already_set error;
};

py::dtype element_type(int dtype) {
  switch (dtype) {
    case SYMBREAK_DTYPE_F16: return py::dtype("float16");
    case SYMBREAK_DTYPE_BF16: return py::dtype("uint16");
    default: return py::dtype("float32");
  }
}

// A [batch][heads][n][d] NumPy view of a validator buffer through its element strides. The base
// object keeps NumPy from copying; the view is valid only during the call.
py::array view(const void* data, const long long (&strides)[3], int dtype, py::ssize_t batch, py::ssize_t heads, py::ssize_t n,
               py::ssize_t d, bool writable) {
  const py::dtype t = element_type(dtype);
  const py::ssize_t e = t.itemsize();
  py::array a(t, std::vector<py::ssize_t>{batch, heads, n, d}, std::vector<py::ssize_t>{strides[0] * e, strides[1] * e, strides[2] * e, e},
              data, py::str("symbreak buffer"));
  if (!writable) py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return a;
}

template <class T>
py::array copy_array(const T* data, std::vector<py::ssize_t> shape) {
  py::array_t<T> a(shape);
  std::copy(data, data + a.size(), a.mutable_data());
  return a;
}

// Everything but q, k and v, as a dict (the callable's `params`).
py::dict params_of(const symbreak_attention_problem_v2& p) {
  py::dict d;
  d["batch"] = p.batch;
  d["heads"] = p.heads;
  d["heads_kv"] = p.heads_kv;
  d["n_q"] = p.n_q;
  d["n_k"] = p.n_k;
  d["d_head"] = p.d_head;
  d["d_v"] = p.d_v;
  d["scale"] = p.scale;
  d["causal"] = static_cast<bool>(p.causal);
  d["alignment"] = p.alignment == SYMBREAK_ALIGN_BOTTOM_RIGHT ? "bottom-right" : "top-left";
  d["window"] = (p.window_left < 0 && p.window_right < 0) ? py::object(py::none()) : py::object(py::make_tuple(p.window_left, p.window_right));
  d["softcap"] = p.softcap;
  d["dtype"] = p.dtype == SYMBREAK_DTYPE_F16 ? "f16" : p.dtype == SYMBREAK_DTYPE_BF16 ? "bf16" : "f32";
  if (p.mask) {
    std::vector<py::ssize_t> shape = p.mask_per_head ? std::vector<py::ssize_t>{p.batch, p.heads, p.n_q, p.n_k}
                                                     : std::vector<py::ssize_t>{p.n_q, p.n_k};
    py::array_t<bool> m(shape);
    bool* out = m.mutable_data();
    for (py::ssize_t i = 0; i < m.size(); ++i) out[i] = p.mask[i] != 0;  // symbreak: nonzero = may attend
    d["mask"] = m;
  } else {
    d["mask"] = py::none();
  }
  d["kv_lens"] = p.kv_lens ? copy_array(p.kv_lens, {p.batch}) : py::object(py::none());
  d["bias"] = p.bias ? copy_array(p.bias, {p.heads, p.n_q, p.n_k}) : py::object(py::none());
  d["alibi_slopes"] = p.alibi_slopes ? copy_array(p.alibi_slopes, {p.heads}) : py::object(py::none());
  return d;
}

// A Python callable as the kernel under test. `forward(q, k, v, out, params)` writes O into `out`;
// `backward(q, k, v, o, d_out, d_q, d_k, d_v, params)` writes the gradients (the Python layer turns a
// user's returning function into these). An exception of `usage_error` aborts the validation; any
// other exception fails that case, and its text is kept for the report.
class PythonKernel {
 public:
  PythonKernel(py::object forward, py::object backward, py::object usage_error)
      : forward_(std::move(forward)), backward_(std::move(backward)), usage_error_(std::move(usage_error)) {}

  int forward(const symbreak_attention_problem_v2& p) {
    return call([&] {
      forward_(view(p.q, p.q_strides, p.dtype, p.batch, p.heads, p.n_q, p.d_head, false),
               view(p.k, p.k_strides, p.dtype, p.batch, p.heads_kv, p.n_k, p.d_head, false),
               view(p.v, p.v_strides, p.dtype, p.batch, p.heads_kv, p.n_k, p.d_v, false),
               view(p.out, p.out_strides, p.dtype, p.batch, p.heads, p.n_q, p.d_v, true), params_of(p));
    });
  }

  int backward(const symbreak_attention_backward_problem_v2& b) {
    const symbreak_attention_problem_v2& p = *b.forward;
    return call([&] {
      backward_(view(p.q, p.q_strides, p.dtype, p.batch, p.heads, p.n_q, p.d_head, false),
                view(p.k, p.k_strides, p.dtype, p.batch, p.heads_kv, p.n_k, p.d_head, false),
                view(p.v, p.v_strides, p.dtype, p.batch, p.heads_kv, p.n_k, p.d_v, false),
                view(p.out, p.out_strides, p.dtype, p.batch, p.heads, p.n_q, p.d_v, false),
                view(b.d_out, p.out_strides, p.dtype, p.batch, p.heads, p.n_q, p.d_v, false),
                view(b.d_q, p.q_strides, p.dtype, p.batch, p.heads, p.n_q, p.d_head, true),
                view(b.d_k, p.k_strides, p.dtype, p.batch, p.heads_kv, p.n_k, p.d_head, true),
                view(b.d_v, p.v_strides, p.dtype, p.batch, p.heads_kv, p.n_k, p.d_v, true), params_of(p));
    });
  }

  bool has_backward() const { return !backward_.is_none(); }
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  template <class F>
  int call(F&& f) {
    try {
      f();
      return 0;
    } catch (py::error_already_set& e) {
      if (e.matches(usage_error_)) throw UsageError{std::move(e)};
      if (errors_.size() < 5) errors_.push_back(e.what());
      return 3;
    }
  }

  py::object forward_, backward_, usage_error_;
  std::vector<std::string> errors_;
};

Capabilities capabilities_of(const std::string& supports, bool has_backward) {
  Capabilities c;
  c.backward = has_backward;
  c.apply(split_words(supports), "supports");  // std::invalid_argument → ValueError, naming the word
  if (c.backward && !has_backward) throw std::invalid_argument("supports: \"backward\" is declared but no backward callable was given");
  return c;
}

py::dict result_of(const OpReport& r, const PythonKernel& k) {
  std::ostringstream text;
  print_report(text, r);
  py::dict d;
  d["passed"] = r.passed();
  d["seed"] = r.seed;
  d["text"] = text.str();
  d["json"] = report_json(r);
  d["junit"] = report_junit(r);
  py::list failing;
  for (const OpVerdict& v : r.verdicts)
    if (v.status == VerdictStatus::fail) {
      py::dict f;
      f["property"] = v.property;
      f["message"] = v.message;
      f["shape"] = v.shape;
      f["case_dir"] = v.counterexample_dir;
      f["inherited_from"] = v.inherited_from;
      failing.append(f);
    }
  d["failing"] = failing;
  d["callable_errors"] = k.errors();
  return d;
}

template <class Run>
py::dict run_with(const std::string& name, py::object forward, py::object backward, const std::string& supports,
                  py::object usage_error, Run&& run) {
  PythonKernel py_kernel(std::move(forward), std::move(backward), std::move(usage_error));
  const Capabilities caps = capabilities_of(supports, py_kernel.has_backward());
  CallableKernelV2 kernel(
      name, [&](const symbreak_attention_problem_v2& p) { return py_kernel.forward(p); },
      py_kernel.has_backward() ? CallableKernelV2::Backward([&](const symbreak_attention_backward_problem_v2& b) { return py_kernel.backward(b); })
                               : CallableKernelV2::Backward{},
      caps);
  try {
    return result_of(run(kernel), py_kernel);
  } catch (UsageError& e) {
    throw std::move(e.error);
  }
}

ValidateOptions options_of(std::uint64_t seed, int cases, const std::vector<std::string>& properties, double shrink_seconds,
                           const std::string& failure_dir, bool edge_cases) {
  if (cases < 1) throw std::invalid_argument("cases must be at least 1, not " + std::to_string(cases));
  ValidateOptions o;
  o.seed = seed;
  o.cases = cases;
  o.properties = properties;
  o.shrink_seconds = shrink_seconds;
  o.failure_dir = failure_dir;
  o.edge_cases = edge_cases;
  for (const std::string& p : properties) (void)find_op_property(p);  // throws, naming an unknown property
  return o;
}


// ---- The catalogue on a user's model (symbreak.torch.check_model) -------------------------------

// The first Python exception a model call raised: the search stops calling the model, and it is
// raised again once the catalogue returns (the search itself would take an exception for a
// counterexample).
using PendingError = std::shared_ptr<std::optional<py::error_already_set>>;

// The model as the catalogue's subject in arithmetic T: `call(ids, "f32" | "f64")` maps token ids
// (batch, seq) int64 to logits (batch, seq, vocab) of that precision (the Python layer checks them).
template <class T>
props::SubjectFactory<T> python_model(py::object call, props::Declaration declaration, PendingError pending) {
  const char* precision = std::is_same_v<T, float> ? "f32" : "f64";
  return [call, declaration, pending, precision](const props::ModelSpec&) {
    return std::make_shared<props::FunctionSubject<T>>(
        [call, pending, precision](std::span<const int> tokens, int batch, int seq) {
          if (*pending) throw std::runtime_error("the model raised an exception");
          py::array_t<std::int64_t> ids(std::vector<py::ssize_t>{batch, seq});
          std::copy(tokens.begin(), tokens.end(), ids.mutable_data());
          try {
            const auto logits = call(ids, precision).template cast<py::array_t<T, py::array::c_style | py::array::forcecast>>();
            const int vocab = static_cast<int>(logits.shape(2));
            symbreak::Tensor<T> out(batch * seq, vocab);
            std::copy(logits.data(), logits.data() + logits.size(), out.data.begin());
            return out;
          } catch (py::error_already_set& e) {
            if (!*pending) *pending = e;
            throw std::runtime_error("the model raised an exception");
          }
        },
        declaration);
  };
}

// The words of MaskKind and PositionalEncoding, in enum order (as in model configs).
constexpr std::string_view kMaskWords[] = {"none", "causal", "explicit"};
constexpr std::string_view kPositionalEncodingWords[] = {"none", "learned", "sinusoidal"};

template <class E, std::size_t N>
E enum_word(const std::string& word, const std::string_view (&names)[N], const char* what) {
  for (std::size_t i = 0; i < N; ++i)
    if (names[i] == word) return static_cast<E>(i);
  std::string allowed;
  for (std::string_view n : names) allowed += (allowed.empty() ? "" : ", ") + std::string(n);
  throw std::invalid_argument(std::string(what) + " \"" + word + "\" is not one of " + allowed);
}

py::dict finding_of(const props::Finding& f) {
  py::dict d;
  const props::Probe& probe = f.found.probes.front();
  d["tokens"] = probe.tokens;
  // The second input the property compares the first with: the permuted tokens, or (PREFIX) token j replaced.
  std::vector<int> other = probe.tokens;
  if (f.found.probes.front().sigma.size() == probe.tokens.size()) {
    other = symbreak::apply_permutation(probe.tokens, probe.sigma);
  } else if (probe.position >= 0 && probe.position < static_cast<int>(other.size())) {
    other[static_cast<std::size_t>(probe.position)] = probe.replacement;
  }
  d["other_tokens"] = other;
  d["position"] = probe.position;
  d["replacement"] = probe.replacement;
  d["element"] = f.element;
  d["deviation"] = f.deviation;
  d["bound"] = f.bound;
  return d;
}

py::dict check_model(py::object call, const std::string& name, const std::vector<std::string>& properties, const std::string& mask,
                     const std::string& positional_encoding, int layers, int vocab, int max_length, int cases, int probes,
                     std::uint64_t seed, double search_seconds, double shrink_seconds) {
  if (vocab < 2) throw std::invalid_argument("vocab must be at least 2, not " + std::to_string(vocab));
  if (max_length < 2) throw std::invalid_argument("lengths: the longest sequence must be at least 2, not " + std::to_string(max_length));
  if (layers < 1) throw std::invalid_argument("layers must be at least 1, not " + std::to_string(layers));
  if (cases < 1) throw std::invalid_argument("cases must be at least 1, not " + std::to_string(cases));
  for (const std::string& p : properties) (void)props::find_property(p);  // names the unknown one
  props::Declaration d;
  d.mask = enum_word<symbreak::MaskKind>(mask, kMaskWords, "mask");
  d.positional_encoding = enum_word<symbreak::PositionalEncoding>(positional_encoding, kPositionalEncodingWords, "positional_encoding");
  d.layers = layers;
  d.vocab_size = vocab;
  d.context_length = max_length;
  const PendingError pending = std::make_shared<std::optional<py::error_already_set>>();
  props::Target target;
  target.name = name;
  target.f32 = python_model<float>(call, d, pending);
  target.f64 = python_model<double>(call, d, pending);  // the reference the float32 run is judged against
  target.fixed = props::detail::declared_spec(d);
  target.has_weights = false;
  props::CheckOptions o;
  o.properties = properties;
  o.ariths = {props::Precision::f32};
  o.cases = cases;
  o.probes = probes;
  o.seed = seed;
  o.limits.max_length = max_length;
  o.limits.vocab_size = vocab;
  o.search_seconds = search_seconds;
  o.shrink_seconds = shrink_seconds;
  o.failure_dir.clear();
  const std::vector<props::Verdict> verdicts = props::run_check(target, o);
  if (*pending) throw **pending;
  std::ostringstream text;
  props::print_table(text, verdicts);
  props::print_findings(text, verdicts);
  py::list list;
  bool passed = true;
  for (const props::Verdict& v : verdicts) {
    py::dict e;
    e["property"] = v.property;
    e["status"] = std::string(props::to_string(v.status));
    e["passed"] = v.passed();
    e["evidence"] = props::evidence(v);
    e["max_deviation"] = v.max_deviation;
    e["bound"] = v.bound;
    e["finding"] = v.finding ? py::object(finding_of(*v.finding)) : py::object(py::none());
    passed = passed && v.passed();
    list.append(e);
  }
  py::dict r;
  r["passed"] = passed;
  r["verdicts"] = list;
  r["text"] = text.str();
  r["junit"] = props::to_junit(verdicts, name);
  return r;
}

}  // namespace

PYBIND11_MODULE(_symbreak, m) {
  m.doc() = "symbreak's attention-kernel validator, in-process (use the symbreak package)";
  // The NumPy element type of each case dtype, as the views above use them (the Python layer reads it
  // from here, so the mapping is written once).
  py::dict numpy_dtypes;
  for (const auto& [name, dtype] : {std::pair{"f32", SYMBREAK_DTYPE_F32}, std::pair{"f16", SYMBREAK_DTYPE_F16},
                                    std::pair{"bf16", SYMBREAK_DTYPE_BF16}})
    numpy_dtypes[name] = element_type(dtype);
  m.attr("NUMPY_DTYPES") = numpy_dtypes;
  m.def(
      "run",
      [](const std::string& name, py::object forward, py::object backward, const std::string& supports, std::uint64_t seed,
         int cases, const std::vector<std::string>& properties, double shrink_seconds, const std::string& failure_dir,
         bool edge_cases, py::object usage_error) {
        const ValidateOptions o = options_of(seed, cases, properties, shrink_seconds, failure_dir, edge_cases);
        return run_with(name, std::move(forward), std::move(backward), supports, std::move(usage_error),
                        [&](Kernel& k) { return run_suite(k, o); });
      },
      py::arg("name"), py::arg("forward"), py::arg("backward"), py::arg("supports"), py::arg("seed"), py::arg("cases"),
      py::arg("properties"), py::arg("shrink_seconds"), py::arg("failure_dir"), py::arg("edge_cases"), py::arg("usage_error"));
  m.def(
      "replay",
      [](const std::string& name, py::object forward, py::object backward, const std::string& supports, const std::string& dir,
         py::object usage_error) {
        const ValidateOptions o = options_of(1, 1, {}, 0, "", false);
        return run_with(name, std::move(forward), std::move(backward), supports, std::move(usage_error),
                        [&](Kernel& k) { return replay_case(k, dir, o); });
      },
      py::arg("name"), py::arg("forward"), py::arg("backward"), py::arg("supports"), py::arg("dir"), py::arg("usage_error"));
  m.def("property_names", [] {
    std::vector<std::string> names;
    for (const OpProperty& p : op_catalogue()) names.emplace_back(p.name);
    return names;
  });
  m.def("check_model", &check_model, py::arg("call"), py::arg("name"), py::arg("properties"), py::arg("mask"),
        py::arg("positional_encoding"), py::arg("layers"), py::arg("vocab"), py::arg("max_length"), py::arg("cases"),
        py::arg("probes"), py::arg("seed"), py::arg("search_seconds"), py::arg("shrink_seconds"));
  m.def("model_property_names", [] {
    std::vector<std::string> names;
    for (const props::Property& p : props::catalogue()) names.emplace_back(p.name);
    return names;
  });
  m.def("capability_words", [](const std::string& supports) {
    Capabilities c;
    c.apply(split_words(supports), "supports");
    return c.words();
  });
}
