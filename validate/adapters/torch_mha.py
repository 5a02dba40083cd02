#!/usr/bin/env python3
"""symbreak exec adapter for PyTorch (run with Debian's /usr/bin/python3 and python3-torch).

    symbreak validate --exec "/usr/bin/python3 validate/adapters/torch_mha.py --mode functional"
    symbreak validate --exec "/usr/bin/python3 validate/adapters/torch_mha.py --mode mha"

--mode functional   torch.matmul + torch.nn.functional.softmax with an additive -inf mask (any scale).
--mode mha          torch.nn.MultiheadAttention with identity projections, batch_first, and a boolean
                    attn_mask (PyTorch's convention: True = NOT allowed, the opposite of symbreak's mask).
                    It always scales by 1/sqrt(d_head) and needs d_v == d_head, which the handshake
                    declares so the validator generates only such cases.

--dtype bf16        inputs, outputs and the computation in bfloat16 (PyTorch's eager attention in that
                    dtype, what FlashAttention's tests call the low-precision reference): the handshake
                    declares dtype=bf16, and symbreak sends bf16 tensors as '<u2' bit patterns. f16 is not
                    offered: PyTorch 1.13 has no f16 matmul on the CPU ("bmm" not implemented for 'Half').

Both modes also serve backward cases through autograd (the handshake says "backward"), and the
version-2 cases PyTorch 1.13 can express: causal with n_q != n_k top-left aligned (causal=top-left:
the mask given to PyTorch is tril over (n_q, n_k)), per-head masks (mha: a 3-D attn_mask of
batch*heads planes), key lengths (padding; mha: key_padding_mask), and an additive bias (bias: a
float attn_mask, -inf where a key is hidden). Not declared: grouped heads
(1.13 has none), windows, and rows with no visible key (1.13 returns NaN there: pytorch#41508).

The exec protocol: print the handshake line, then for every case directory read from stdin, load
q.npy, k.npy, v.npy, mask.npy (optional) and case.json; for a forward case write out.npy there, for a
backward case ("pass": "backward" in case.json) read d_out.npy and write d_q.npy, d_k.npy and
d_v.npy; answer one line, "ok" or "error: ...".
"""
import argparse
import json
import os
import sys

import numpy as np
import torch


def load_tensor(path, dtype):
    """A tensor file of the case's dtype: '<f4', or bf16 as its '<u2' bit patterns."""
    array = np.load(path)
    if dtype == "bf16":
        if array.dtype != np.uint16:
            raise ValueError(path + ": a bf16 case holds '<u2' bit patterns, not " + str(array.dtype))
        return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(array)


def load_case(directory):
    with open(os.path.join(directory, "case.json")) as f:
        case = json.load(f)
    dtype = case.get("dtype", "f32")
    q, k, v = (load_tensor(os.path.join(directory, name + ".npy"), dtype) for name in ("q", "k", "v"))
    if case.get("heads_kv") or case.get("window") or case.get("alignment", "top-left") != "top-left":
        raise ValueError("grouped heads, windows and bottom-right alignment are not declared")
    batch, heads, n_q, n_k = q.shape[0], q.shape[1], q.shape[2], k.shape[2]
    allowed = torch.ones(batch, heads, n_q, n_k, dtype=torch.bool)
    mask_path = os.path.join(directory, "mask.npy")
    if os.path.exists(mask_path):
        allowed &= torch.from_numpy(np.load(mask_path) != 0)  # symbreak: nonzero = may attend; 2-D or per head
    if case["causal"]:
        allowed &= torch.ones(n_q, n_k, dtype=torch.bool).tril()  # top-left when n_q != n_k
    padded = torch.zeros(batch, n_k, dtype=torch.bool)  # True = a padding key (PyTorch's convention)
    for b, length in enumerate(case.get("kv_lens", [])):
        padded[b, length:] = True
    bias = None  # PyTorch's float attn_mask: added to the scores (-inf hides a key), shared by the batch
    bias_path = os.path.join(directory, "bias.npy")
    if os.path.exists(bias_path):
        bias = torch.from_numpy(np.load(bias_path)).to(q.dtype)[None]  # (1, heads, n_q, n_k)
    d_out = None
    if case.get("pass") == "backward":
        d_out = load_tensor(os.path.join(directory, "d_out.npy"), dtype)
    return q, k, v, allowed, padded, bias, float(case["scale"]), d_out


SCALE_AFTER = False  # --scale-after: scale the product instead of q (the bf16 finding, validate/README.md)


def functional(q, k, v, allowed, padded, bias, scale):
    # q is scaled before the product, as nn.MultiheadAttention and FlashAttention's reference do: in
    # bf16, scaling the rounded product afterwards multiplies its rounding error by the scale.
    if SCALE_AFTER:
        scores = torch.matmul(q, k.transpose(-1, -2)) * scale
    else:
        scores = torch.matmul(q * scale, k.transpose(-1, -2))
    if bias is not None:
        scores = scores + bias
    scores = scores.masked_fill(~allowed | padded[:, None, None, :], float("-inf"))
    return torch.matmul(torch.nn.functional.softmax(scores, dim=-1), v)


def multihead(q, k, v, allowed, padded, bias, scale):
    batch, heads, n_q, d = q.shape
    n_k, e = k.shape[2], heads * d
    mha = torch.nn.MultiheadAttention(e, heads, bias=False, batch_first=True).to(q.dtype)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.eye(e).repeat(3, 1))  # identity projections: the bare op (exact in bf16)
        mha.out_proj.weight.copy_(torch.eye(e))
    mha.eval()

    def tokens_first(x, n):  # (batch, heads, n, d) -> (batch, n, heads*d)
        return x.permute(0, 2, 1, 3).reshape(batch, n, e)

    # PyTorch: True = masked out; a 3-D attn_mask has one (n_q, n_k) plane per batch item and head. A
    # float attn_mask is added to the scores instead: the bias, with -inf where the mask hides a key.
    attn_mask = ~allowed.reshape(batch * heads, n_q, n_k)
    if bias is not None:
        attn_mask = bias.expand(batch, heads, n_q, n_k).reshape(batch * heads, n_q, n_k).masked_fill(attn_mask, float("-inf"))
    out, _ = mha(tokens_first(q, n_q), tokens_first(k, n_k), tokens_first(v, n_k),
                 attn_mask=attn_mask,
                 key_padding_mask=padded if padded.any() else None, need_weights=False)
    return out.reshape(batch, n_q, heads, d).permute(0, 2, 1, 3)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["functional", "mha"], default="functional")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
    parser.add_argument("--scale-after", action="store_true", help="functional: (q·kᵀ)·scale instead of (q·scale)·kᵀ")
    args = parser.parse_args()
    global SCALE_AFTER
    SCALE_AFTER = args.scale_after
    torch.set_num_threads(args.threads)
    run = functional if args.mode == "functional" else multihead
    # masked-finite: PyTorch 1.13 multiplies masked value rows by their zero weight, so a NaN there
    # reaches the output (pytorch#101967); MASKED-INDEPENDENCE then uses finite poisons only.
    # empty-rows=nan: a row with every key masked is softmax's 0/0 = NaN (pytorch#41508), PyTorch
    # 1.13's contract; EMPTY-ROWS checks that it is NaN exactly there.
    print("symbreak-exec 1 none explicit causal=top-left padding mask=per-head bias backward masked-finite empty-rows=nan" +
          ("" if args.mode == "functional" else " dv=dhead scale=default") +
          (" dtype=bf16" if args.dtype == "bf16" else ""), flush=True)

    def save(directory, name, tensor):
        tmp = os.path.join(directory, name + ".tmp.npy")
        tensor = tensor.detach().contiguous()
        if args.dtype == "bf16":  # its bit patterns, as '<u2'
            np.save(tmp, tensor.to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16))
        else:
            np.save(tmp, tensor.numpy().astype(np.float32))
        os.replace(tmp, os.path.join(directory, name + ".npy"))

    for line in sys.stdin:
        directory = line.strip()
        if not directory:
            continue
        try:
            q, k, v, allowed, padded, bias, scale, d_out = load_case(directory)
            if d_out is None:
                with torch.no_grad():
                    save(directory, "out", run(q, k, v, allowed, padded, bias, scale))
            else:
                for t in (q, k, v):
                    t.requires_grad_(True)
                run(q, k, v, allowed, padded, bias, scale).backward(d_out)
                for name, t in (("d_q", q), ("d_k", k), ("d_v", v)):
                    # autograd leaves an input that does not influence the output without a gradient
                    save(directory, name, t.grad if t.grad is not None else torch.zeros_like(t))
            print("ok", flush=True)
        except Exception as error:  # the validator reports it for this case and goes on
            print("error: " + str(error).replace("\n", " "), flush=True)


if __name__ == "__main__":
    main()
