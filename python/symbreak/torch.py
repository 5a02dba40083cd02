"""symbreak.torch: the catalogue's statements on a user's own PyTorch model.

    import symbreak.torch

    symbreak.torch.check_model(my_gpt, ["PREFIX"], vocab=13, lengths=8, mask="causal",
                               positional_encoding="learned", layers=2)

`model` is an nn.Module (or any callable, with `model64=` its float64 twin) that maps token ids
[batch, n] (int64) to logits [batch, n, vocab]. The statements are the C++ catalogue's (`symbreak
check --list`), searched and shrunk by the same RapidCheck driver:

    PREFIX          causal mask: changing token j leaves every output at a position i < j unchanged
    EQUIV           no mask, no PE: permuting the tokens permutes the outputs
    NEXT            no mask, no PE: the last output is invariant under permutations of tokens 1..n-1
    CAUSAL-BREAKS   causal mask, no PE, depth >= 2: some permutation changes the last output
    PE-BREAKS       learned or sinusoidal PE: some permutation changes the last output

The declaration (mask, positional_encoding, layers) says which statements apply: the others are
reported "not applicable". The tolerance is derived, not chosen: the model runs in float32 and, as
the reference, in float64 (a deep copy of the module, `.double()`), and a float32 difference counts
only beyond the measured float64-vs-float32 error, as the catalogue does against Exact. A violated
statement raises symbreak.ValidationError with the shrunk witness (the shortest sequence) and a
snippet that replays it; a bad argument raises symbreak.ArgumentError (a ValueError).
"""
import copy

import numpy as np
import torch

from . import ArgumentError, ValidationError, _symbreak

__all__ = ["check_model", "ModelReport"]

DEFAULT_PROPERTIES = ("PREFIX", "EQUIV", "NEXT", "CAUSAL-BREAKS", "PE-BREAKS")


class ModelReport:
    def __init__(self, name, result):
        self.name = name
        self.verdicts = result["verdicts"]
        self.text = result["text"]
        self.junit = result["junit"]
        self.passed = result["passed"]

    def verdict(self, prop):
        return next(v for v in self.verdicts if v["property"] == prop)

    def failure_text(self):
        # The C++ report's replay lines name the command-line tool, which cannot run a Python model.
        lines = [line for line in self.text.rstrip().splitlines()
                 if not line.lstrip().startswith(("replay: symbreak check", "or: RC_PARAMS="))]
        for v in self.verdicts:
            if not v["passed"] and v["finding"] is not None:
                f = v["finding"]
                lines += ["", "replay %s (%s):" % (v["property"], f["element"]),
                          "    x = torch.tensor([%s])" % list(f["tokens"]),
                          "    y = torch.tensor([%s])" % list(f["other_tokens"]),
                          "    model(x), model(y)   # compare at %s" % f["element"]]
        return "\n".join(lines)

    def __str__(self):
        return self.text if self.passed else self.failure_text()


def _lengths(lengths):
    if isinstance(lengths, bool):
        raise ArgumentError("lengths must be an int (the longest sequence) or a range of ints, not %r" % (lengths,))
    if isinstance(lengths, int):
        return lengths
    try:
        values = list(lengths)
    except TypeError:
        raise ArgumentError("lengths must be an int (the longest sequence) or a range of ints, not %r" % (lengths,)) from None
    if not values or not all(isinstance(x, int) for x in values):
        raise ArgumentError("lengths must be an int (the longest sequence) or a range of ints, not %r" % (lengths,))
    return max(values)


def _twins(model, model64):
    """The float32 model and its float64 reference."""
    if isinstance(model, torch.nn.Module):
        model32 = copy.deepcopy(model).float().eval()
        reference = copy.deepcopy(model).double().eval() if model64 is None else model64
        return model32, reference
    if not callable(model):
        raise ArgumentError("model must be an nn.Module or a callable, not %s" % type(model).__name__)
    if model64 is None:
        raise ArgumentError("model is a plain callable: pass model64=, the same model in float64 (the reference the "
                            "float32 run is judged against); an nn.Module is converted with .double()")
    return model, model64


def check_model(model, properties=DEFAULT_PROPERTIES, *, vocab, lengths=8, mask="causal", positional_encoding="none",
                layers=2, model64=None, cases=30, probes=4, seed=1, search_seconds=60.0, shrink_seconds=10.0, name=None,
                raise_on_failure=True):
    """Runs the named statements on `model`; returns a ModelReport, or raises ValidationError when one
    is violated (an invariance that fails, or a "-BREAKS" statement never seen broken)."""
    if isinstance(properties, str):
        properties = [properties]
    properties = list(properties)
    known = set(_symbreak.model_property_names())
    for p in properties:
        if p not in known:
            raise ArgumentError("unknown property %r (allowed: %s)" % (p, ", ".join(_symbreak.model_property_names())))
    if isinstance(vocab, bool) or not isinstance(vocab, int):
        raise ArgumentError("vocab must be an int, the number of token ids, not %r" % (vocab,))
    model32, reference = _twins(model, model64)
    kernel_name = name or ("torch:" + type(model).__name__)
    dtypes = {"f32": (model32, torch.float32), "f64": (reference, torch.float64)}

    def call(ids, precision):
        m, dtype = dtypes[precision]
        with torch.no_grad():
            out = m(torch.from_numpy(ids))
        if not torch.is_tensor(out):
            raise ArgumentError("the model returned %s; return the logits as a tensor [batch, n, vocab]" % type(out).__name__)
        expected = (ids.shape[0], ids.shape[1], vocab)
        if tuple(out.shape) != expected:
            raise ArgumentError("the model returned logits of shape %s for token ids of shape %s; expected %s "
                                "[batch, n, vocab]" % (tuple(out.shape), tuple(ids.shape), expected))
        if out.dtype != dtype:
            raise ArgumentError("the %s model returned %s logits; expected %s" % (
                "float32" if precision == "f32" else "float64 (reference)", str(out.dtype).replace("torch.", ""),
                str(dtype).replace("torch.", "")))
        return out.detach().cpu().contiguous().numpy()

    result = _symbreak.check_model(call, kernel_name, properties, mask, positional_encoding, layers, vocab,
                                   _lengths(lengths), cases, probes, seed, float(search_seconds), float(shrink_seconds))
    report = ModelReport(kernel_name, result)
    if raise_on_failure and not report.passed:
        raise ValidationError(report)
    return report
