"""symbreak for Python: validate an attention kernel written in Python against symbreak's exact
reference, in-process, from pytest or a script.

    import symbreak

    def my_attention(q, k, v, params):          # NumPy arrays [batch][heads][n][d] (or torch tensors)
        ...
        return out                               # [batch][heads][n_q][d_v], the case's dtype

    symbreak.validate(my_attention, supports="causal=top-left padding", seeds=range(1, 21))

It is the C++ validator itself (the extension module _symbreak): the same capability words,
properties, exact reference, tolerance, guards and report as `symbreak validate`. A failing property
raises ValidationError with the report; a bad argument (an unknown word, a callable returning the
wrong shape or dtype) raises ArgumentError, a ValueError that names the problem.

The callable is called with q, k, v and `params`, a dict: batch, heads, heads_kv, n_q, n_k, d_head,
d_v, scale, causal, alignment ("top-left"/"bottom-right"), window (None or (left, right), -1 for
unbounded), softcap (0 for none), dtype ("f32"/"f16"/"bf16"), mask (None, a bool array [n_q][n_k] or,
with mask=per-head, [batch][heads][n_q][n_k]; True = may attend), kv_lens (None or [batch]), bias
(None or [heads][n_q][n_k] float32), alibi_slopes (None or [heads]). q, k and v are read-only views
of the validator's guarded buffers (no copy; with layout=bnhd they are strided views): do not keep
them after the call. A backward callable gets (q, k, v, o, d_out, params) and returns (dq, dk, dv).
"""
import os
import re

import numpy as np

from . import _symbreak

__all__ = ["validate", "replay", "ValidationError", "ArgumentError", "Report", "property_names"]


class ArgumentError(ValueError):
    """A bad argument to symbreak, or a callable that breaks the calling convention."""


class ValidationError(AssertionError):
    """A property failed. `report` is the Report; str() is its text."""

    def __init__(self, report):
        super().__init__(report.failure_text())
        self.report = report


def property_names():
    """The op properties, in suite order (REFERENCE, KV-PERM, ..., BWD-...)."""
    return list(_symbreak.property_names())


class Report:
    """The result of validate(): one entry per seed (the C++ report: text, json, junit, failing)."""

    def __init__(self, name, supports, runs, replays):
        self.name = name
        self.supports = supports
        self.runs = runs          # [dict(seed, passed, text, json, junit, failing, callable_errors)]
        self._replays = replays   # how to replay each saved case, in Python

    @property
    def passed(self):
        return all(r["passed"] for r in self.runs)

    @property
    def seeds_passed(self):
        return sum(1 for r in self.runs if r["passed"])

    @property
    def failing(self):
        """{property: number of seeds on which it failed}."""
        counts = {}
        for r in self.runs:
            for f in r["failing"]:
                counts[f["property"]] = counts.get(f["property"], 0) + 1
        return counts

    def summary(self):
        line = "%s: %d of %d seeds pass" % (self.name, self.seeds_passed, len(self.runs))
        if self.failing:
            line += " (" + ", ".join("%s %d" % kv for kv in self.failing.items()) + ")"
        return line

    def failure_text(self):
        first = next((r for r in self.runs if not r["passed"]), None)
        if first is None:
            return self.summary()
        # The C++ report's replay lines name the command-line tool; a Python callable replays in Python.
        text = re.sub(r"replay: symbreak validate .*--replay (\S+)", lambda m: "replay: " + self._replays(m.group(1)),
                      first["text"].rstrip())
        out = [self.summary(), "", "first failing seed %d:" % first["seed"], text]
        if first["callable_errors"]:
            out.append("the callable raised: " + first["callable_errors"][0].splitlines()[0])
        return "\n".join(out)

    def __str__(self):
        return self.failure_text() if not self.passed else self.summary()


def _is_torch(x):
    return type(x).__module__.startswith("torch")


def _to_torch(a, dtype):
    import torch
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # read-only views: the kernel must not write its inputs anyway
        if dtype == "bf16":
            return torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
        return torch.from_numpy(a)


_NUMPY_DTYPE = dict(_symbreak.NUMPY_DTYPES)  # the views' element types, from the extension


def _as_case_array(result, dtype, what, callable_name):
    """The callable's result as a NumPy array of the case's dtype (bf16: uint16 bit patterns)."""
    if _is_torch(result):
        import torch

        t = result.detach().cpu()
        expected = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[dtype]
        if t.dtype != expected:
            raise ArgumentError("%s returned %s as a torch %s tensor; a %s case needs %s"
                                % (callable_name, what, str(t.dtype).replace("torch.", ""), dtype, str(expected).replace("torch.", "")))
        t = t.contiguous()
        return t.view(torch.int16).numpy().view(np.uint16) if dtype == "bf16" else t.numpy()
    if not isinstance(result, np.ndarray):
        raise ArgumentError("%s returned %s as %s; return a NumPy array or a torch tensor"
                            % (callable_name, what, type(result).__name__))
    if result.dtype != _NUMPY_DTYPE[dtype]:
        hint = " (bf16 as uint16 bit patterns, or a torch.bfloat16 tensor)" if dtype == "bf16" else ""
        raise ArgumentError("%s returned %s as %s; a %s case needs %s%s"
                            % (callable_name, what, result.dtype, dtype, _NUMPY_DTYPE[dtype], hint))
    return result


def _write(dst, result, dtype, what, callable_name):
    a = _as_case_array(result, dtype, what, callable_name)
    if a.shape != dst.shape:
        raise ArgumentError("%s returned %s of shape %s; this case needs %s"
                            % (callable_name, what, tuple(a.shape), tuple(dst.shape)))
    np.copyto(dst, a)


def _adapters(fn, backward, tensors, callable_name):
    """The calling convention of _symbreak (write into the given buffers) around the user's
    returning functions, in NumPy or torch."""
    if tensors not in ("numpy", "torch"):
        raise ArgumentError('tensors must be "numpy" or "torch", not %r' % (tensors,))

    def convert(params, *arrays):
        if tensors == "numpy":
            return arrays, params
        dtype = params["dtype"]
        converted = dict(params)
        for key in ("mask", "kv_lens", "bias", "alibi_slopes"):
            if converted[key] is not None:
                converted[key] = _to_torch(converted[key], "f32")
        return tuple(_to_torch(a, dtype) for a in arrays), converted

    def forward(q, k, v, out, params):
        (tq, tk, tv), p = convert(params, q, k, v)
        _write(out, fn(tq, tk, tv, p), params["dtype"], "the output", callable_name)

    def backward_call(q, k, v, o, d_out, d_q, d_k, d_v, params):
        inputs, p = convert(params, q, k, v, o, d_out)
        grads = backward(*inputs, p)
        if not isinstance(grads, (tuple, list)) or len(grads) != 3:
            raise ArgumentError("%s's backward returned %s; return (dq, dk, dv)" % (callable_name, type(grads).__name__))
        for dst, g, what in zip((d_q, d_k, d_v), grads, ("dq", "dk", "dv")):
            _write(dst, g, params["dtype"], what, callable_name)

    return forward, (backward_call if backward is not None else None)


def _seed_list(seeds):
    if isinstance(seeds, int):
        seeds = [seeds]
    try:
        seeds = list(seeds)
    except TypeError:
        raise ArgumentError("seeds must be an int or an iterable of ints, not %r" % (seeds,)) from None
    if not seeds or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise ArgumentError("seeds must be non-negative ints, got %r" % (seeds,))
    return [int(s) for s in seeds]


def _name_of(fn, name):
    if name is not None:
        return name
    qualname = getattr(fn, "__qualname__", type(fn).__name__)
    return "python:" + (qualname.rsplit("<locals>.", 1)[-1])


def validate(fn, supports="", seeds=range(1, 21), backward=None, *, cases=40, properties=None, tensors="numpy",
             shrink_seconds=5.0, failure_dir=".symbreak/validate", name=None, raise_on_failure=True):
    """Validates `fn` (and `backward`, if given) on every seed; returns the Report, or raises
    ValidationError when a property fails on any seed (raise_on_failure=False returns it instead).

    supports: the capability words of `symbreak validate --supports` ("causal=bottom-right gqa
    dtype=bf16 ..."), added to the default region (masks none, causal, explicit; any n_q, n_k,
    scale, d_v); `backward` implies the word backward. tensors: "numpy" or "torch" (zero-copy
    torch.from_numpy views; bf16 as torch.bfloat16)."""
    if not callable(fn):
        raise ArgumentError("fn must be callable, not %s" % type(fn).__name__)
    if backward is not None and not callable(backward):
        raise ArgumentError("backward must be callable or None, not %s" % type(backward).__name__)
    if not isinstance(supports, str):
        raise ArgumentError("supports must be a string of capability words, not %s" % type(supports).__name__)
    if isinstance(cases, bool) or not isinstance(cases, int):
        raise ArgumentError("cases must be an int, not %r" % (cases,))
    if properties is None:
        properties = []
    elif isinstance(properties, str):
        properties = [properties]
    known = set(property_names())
    for p in properties:
        if p not in known:
            raise ArgumentError("unknown property %r (allowed: %s)" % (p, ", ".join(property_names())))
    kernel_name = _name_of(fn, name)
    forward_call, backward_call = _adapters(fn, backward, tensors, kernel_name)
    runs = []
    for seed in _seed_list(seeds):
        runs.append(_symbreak.run(kernel_name, forward_call, backward_call, supports, seed, cases, list(properties),
                                  float(shrink_seconds), failure_dir, True, ArgumentError))

    def replays(case_dir):
        fn_name = getattr(fn, "__name__", "fn")
        extra = ", backward=%s" % getattr(backward, "__name__", "bwd") if backward is not None else ""
        return "symbreak.replay(%s, %r, supports=%r%s%s)" % (
            fn_name, os.path.abspath(case_dir), supports, extra, ", tensors=%r" % tensors if tensors != "numpy" else "")

    report = Report(kernel_name, supports, runs, replays)
    if raise_on_failure and not report.passed:
        raise ValidationError(report)
    return report


def replay(fn, case_dir, supports="", backward=None, *, tensors="numpy", name=None):
    """Runs one saved counterexample (a case directory from a failed validate) again; returns its
    Report (passed or not), without raising on failure."""
    if not os.path.isdir(case_dir):
        raise ArgumentError("no case directory %r" % (case_dir,))
    kernel_name = _name_of(fn, name)
    forward_call, backward_call = _adapters(fn, backward, tensors, kernel_name)
    run = _symbreak.replay(kernel_name, forward_call, backward_call, supports, case_dir, ArgumentError)
    run["seed"] = 0
    return Report(kernel_name, supports, [run], lambda d: "symbreak.replay(fn, %r)" % d)
