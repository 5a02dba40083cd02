"""symbreak.torch.check_model: the catalogue's statements on a user's nn.Module (a nanoGPT-style
model), with a planted leaky mask that PREFIX must catch and shrink."""
import pytest
import torch

import symbreak
import symbreak.torch
from nanogpt import GPT

FAST = dict(cases=15, search_seconds=60, shrink_seconds=20)


def test_a_correct_causal_gpt_passes_prefix_and_its_positions_break_the_symmetry():
    report = symbreak.torch.check_model(GPT(), ["PREFIX", "EQUIV"], vocab=13, lengths=8, mask="causal",
                                        positional_encoding="learned", layers=2, **FAST)
    assert report.passed
    assert report.verdict("PREFIX")["status"] == "holds"
    assert report.verdict("EQUIV")["status"] == "n/a"  # the declaration has a mask and PE
    report = symbreak.torch.check_model(GPT(causal=False), ["PE-BREAKS"], vocab=13, lengths=8, mask="none",
                                        positional_encoding="learned", layers=2, **FAST)
    assert report.verdict("PE-BREAKS")["status"] == "broken-as-expected"


def test_a_leaky_mask_is_caught_by_prefix_with_a_shrunk_witness():
    leaky = GPT(leak=True)
    with pytest.raises(symbreak.ValidationError) as failure:
        symbreak.torch.check_model(leaky, ["PREFIX"], vocab=13, lengths=8, mask="causal", positional_encoding="learned",
                                   layers=2, **FAST)
    finding = failure.value.report.verdict("PREFIX")["finding"]
    # Shrunk to the shortest witness: two tokens, the second changed, and position 0 moved.
    assert len(finding["tokens"]) == 2 and finding["position"] == 1
    assert finding["tokens"][1] != finding["other_tokens"][1]
    text = str(failure.value)
    assert "replay PREFIX" in text and "x = torch.tensor" in text
    # The witness replays: position 0's logits differ between x and y.
    x, y = torch.tensor([finding["tokens"]]), torch.tensor([finding["other_tokens"]])
    with torch.no_grad():
        assert not torch.equal(leaky(x)[0, 0], leaky(y)[0, 0])


def test_without_mask_or_positions_the_model_is_permutation_equivariant_and_depth_two_causal_breaks_it():
    report = symbreak.torch.check_model(GPT(positions=False, causal=False), ["EQUIV", "NEXT"], vocab=13, lengths=8,
                                        mask="none", positional_encoding="none", layers=2, **FAST)
    assert report.passed and report.verdict("EQUIV")["status"] == "holds"
    report = symbreak.torch.check_model(GPT(positions=False), ["CAUSAL-BREAKS", "PREFIX"], vocab=13, lengths=8,
                                        mask="causal", positional_encoding="none", layers=2, **FAST)
    assert report.verdict("CAUSAL-BREAKS")["status"] == "broken-as-expected"


def test_a_model_declared_wrongly_is_caught():
    # Declared without positions, but it has them: EQUIV fails (the declaration is checked, not trusted).
    with pytest.raises(symbreak.ValidationError) as failure:
        symbreak.torch.check_model(GPT(causal=False), ["EQUIV"], vocab=13, lengths=8, mask="none",
                                   positional_encoding="none", layers=2, **FAST)
    assert failure.value.report.verdict("EQUIV")["status"] == "VIOLATED"


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"logits of shape \(1, \d+, 13\) .*expected \(1, \d+, 12\)"):
        symbreak.torch.check_model(GPT(), ["PREFIX"], vocab=12, lengths=8, **FAST)
    with pytest.raises(ValueError, match="unknown property 'PREFIXX'"):
        symbreak.torch.check_model(GPT(), ["PREFIXX"], vocab=13)
    with pytest.raises(ValueError, match='mask "diagonal" is not one of none, causal, explicit'):
        symbreak.torch.check_model(GPT(), ["PREFIX"], vocab=13, mask="diagonal")
    with pytest.raises(ValueError, match="pass model64="):
        symbreak.torch.check_model(lambda ids: GPT()(ids), ["PREFIX"], vocab=13)
    with pytest.raises(ValueError, match="lengths must be an int"):
        symbreak.torch.check_model(GPT(), ["PREFIX"], vocab=13, lengths="8")
