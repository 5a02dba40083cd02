"""symbreak.validate from Python: correct kernels pass, planted bugs are caught and named, bad
arguments raise a ValueError that names the problem. Run by ctest (python_tests)."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import symbreak
from attention import functional, functional_backward, multihead, multihead_backward, numpy_attention

# What PyTorch 1.13's eager attention supports (validate/README.md): no scale argument for
# MultiheadAttention, d_v == d_head there, NaN rows with no visible key, and masked NaN values
# reaching the output (pytorch#101967).
FUNCTIONAL = "none explicit causal=top-left padding mask=per-head bias masked-finite empty-rows=nan"
MHA = "none explicit causal=top-left mask=per-head masked-finite empty-rows=nan scale=default dv=dhead"


def test_pytorch_functional_attention_passes_forward_and_backward():
    report = symbreak.validate(functional, supports=FUNCTIONAL, seeds=range(1, 4), backward=functional_backward,
                               tensors="torch", cases=10)
    assert report.passed and report.seeds_passed == 3
    assert "3 of 3 seeds pass" in report.summary()
    # The version-2 properties ran on it, forward and backward.
    ran = {line.split()[0] for line in report.runs[0]["text"].splitlines()
           if len(line.split()) > 2 and line.split()[2] == "pass"}
    assert {"REFERENCE", "PADDING", "BIAS", "ALIGNMENT", "BWD-REFERENCE", "BWD-PADDING"} <= ran


def test_nn_multihead_attention_passes():
    report = symbreak.validate(multihead, supports=MHA, seeds=range(1, 3), backward=multihead_backward, tensors="torch",
                               cases=10)
    assert report.passed


def test_a_numpy_kernel_passes():
    assert symbreak.validate(numpy_attention, supports="masked-finite", seeds=[1, 2], cases=10).passed


def test_a_leaky_causal_mask_is_caught_and_named_with_a_replay():
    def leaky(q, k, v, params):
        return functional(q, k, v, params, leak=True)

    with pytest.raises(symbreak.ValidationError) as failure:
        symbreak.validate(leaky, supports=FUNCTIONAL, seeds=[1], tensors="torch", cases=10, shrink_seconds=2,
                          failure_dir=os.path.join(str(failure_dir_root()), "cases"))
    report = failure.value.report
    assert "CAUSAL" in report.failing
    text = str(failure.value)
    assert "0 of 1 seeds pass" in text
    assert "symbreak.replay(leaky, " in text
    case_dir = next(f["case_dir"] for f in report.runs[0]["failing"] if f["property"] == "CAUSAL")
    # The saved case fails again on replay, and the correct kernel passes it.
    assert not symbreak.replay(leaky, case_dir, supports=FUNCTIONAL, tensors="torch").passed
    assert symbreak.replay(functional, case_dir, supports=FUNCTIONAL, tensors="torch").passed


def failure_dir_root():
    import tempfile

    return tempfile.mkdtemp(prefix="symbreak_py_")


def test_pytorch_bf16_attention_fails_robust_as_the_cli_finds():
    report = symbreak.validate(functional, supports=FUNCTIONAL + " dtype=bf16", seeds=[1], tensors="torch", cases=10,
                               properties=["REFERENCE", "ROBUST"], shrink_seconds=0, failure_dir="", raise_on_failure=False)
    assert report.failing == {"ROBUST": 1}


def test_a_crash_in_the_callable_fails_that_case_not_the_interpreter():
    def crashes_on_long_rows(q, k, v, params):
        if params["n_k"] > 3:
            raise RuntimeError("kernel exploded on n_k = %d" % params["n_k"])
        return functional(q, k, v, params)

    report = symbreak.validate(crashes_on_long_rows, supports=FUNCTIONAL, seeds=[1], tensors="torch", cases=10,
                               properties=["REFERENCE"], shrink_seconds=0, failure_dir="", raise_on_failure=False)
    assert not report.passed
    assert "kernel exploded on n_k" in report.failure_text()


@pytest.mark.parametrize("supports, named", [("causal=diagonal", "causal=diagonal"), ("window=abc", "window=abc"),
                                             ("causal=top-left causal=bottom-right", "causal=")])
def test_a_bad_word_is_a_value_error_that_names_it(supports, named):
    with pytest.raises(ValueError) as error:
        symbreak.validate(functional, supports=supports, seeds=[1], tensors="torch")
    assert named in str(error.value)


def test_a_wrong_shape_or_dtype_is_a_value_error_that_names_it():
    def wrong_shape(q, k, v, params):
        return np.zeros((1, 2, 3), np.float32)

    def wrong_dtype(q, k, v, params):
        return numpy_attention(q, k, v, params).astype(np.float64)

    def not_an_array(q, k, v, params):
        return [0.0]

    with pytest.raises(symbreak.ArgumentError, match=r"wrong_shape returned the output of shape \(1, 2, 3\); this case needs"):
        symbreak.validate(wrong_shape, seeds=[1])
    with pytest.raises(ValueError, match="returned the output as float64; a f32 case needs float32"):
        symbreak.validate(wrong_dtype, seeds=[1])
    with pytest.raises(ValueError, match="as list; return a NumPy array or a torch tensor"):
        symbreak.validate(not_an_array, seeds=[1])


def test_other_bad_arguments_are_named():
    with pytest.raises(ValueError, match="unknown property 'REFERENCES'"):
        symbreak.validate(functional, properties=["REFERENCES"])
    with pytest.raises(ValueError, match="seeds must be non-negative ints"):
        symbreak.validate(functional, seeds=[-1])
    with pytest.raises(ValueError, match='tensors must be "numpy" or "torch"'):
        symbreak.validate(functional, tensors="jax")
    with pytest.raises(ValueError, match="fn must be callable"):
        symbreak.validate("functional")
    with pytest.raises(ValueError, match="backward.*is declared but no backward callable"):
        symbreak.validate(functional, supports="backward", seeds=[1])
    with pytest.raises(ValueError, match="cases must be at least 1"):
        symbreak.validate(functional, seeds=[1], cases=0)


PLUGIN_TEST = '''
import symbreak
from attention import functional

def leaky(q, k, v, params):
    return functional(q, k, v, params, leak=True)

def test_correct(symbreak_seeds):
    symbreak.validate(functional, supports="none causal explicit masked-finite", seeds=symbreak_seeds, tensors="torch", cases=5)

def test_leaky(symbreak_seeds):
    symbreak.validate(leaky, supports="none causal explicit masked-finite", seeds=symbreak_seeds, tensors="torch", cases=5,
                      shrink_seconds=0)
'''


def test_the_pytest_plugin_reports_the_symbreak_report_in_junit(tmp_path):
    (tmp_path / "test_user.py").write_text(PLUGIN_TEST)
    junit = tmp_path / "junit.xml"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(__file__), os.environ.get("PYTHONPATH", "")]))
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "symbreak.pytest_plugin", "--symbreak-seeds", "1-2",
                          "--junitxml", str(junit), str(tmp_path / "test_user.py")],
                         capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed, 1 passed" in run.stdout
    xml = junit.read_text()
    assert "python:leaky: 0 of 2 seeds pass" in xml and "CAUSAL" in xml
    assert "Traceback" not in run.stdout.split("short test summary")[0] or "symbreak.replay(leaky" in run.stdout


def test_grouped_heads_and_strided_layouts_arrive_as_zero_copy_views():
    # layout=bnhd: the validator lays the buffers out [batch][seq][heads][d]; the callable sees strided
    # views of them (not copies), and expands the KV heads by repeat-interleave, as GQA kernels do.
    seen_strided = []

    def gqa_attention(q, k, v, params):
        seen_strided.append(not q.is_contiguous())
        group = params["heads"] // params["heads_kv"]
        return functional(q, k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1), params)

    def tiled_heads(q, k, v, params):  # the ONNX-style bug: KV head h % heads_kv instead of h // group
        group = params["heads"] // params["heads_kv"]
        return functional(q, k.repeat(1, group, 1, 1), v.repeat(1, group, 1, 1), params)

    supports = FUNCTIONAL + " gqa layout=bnhd"
    assert symbreak.validate(gqa_attention, supports=supports, seeds=[1, 2], tensors="torch", cases=10).passed
    assert any(seen_strided)
    report = symbreak.validate(tiled_heads, supports=supports, seeds=[1], tensors="torch", cases=10, shrink_seconds=0,
                               failure_dir="", properties=["GQA-MAPPING", "GQA-PERM"], raise_on_failure=False)
    assert not report.passed and set(report.failing) <= {"GQA-MAPPING", "GQA-PERM"}
