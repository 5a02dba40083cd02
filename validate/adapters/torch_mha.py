#!/usr/bin/env python3
"""symbreak exec adapter for PyTorch (run with Debian's /usr/bin/python3 and python3-torch).

    symbreak validate --exec "/usr/bin/python3 validate/adapters/torch_mha.py --mode functional"
    symbreak validate --exec "/usr/bin/python3 validate/adapters/torch_mha.py --mode mha"

--mode functional   torch.matmul + torch.nn.functional.softmax with an additive -inf mask (any scale).
--mode mha          torch.nn.MultiheadAttention with identity projections, batch_first, and a boolean
                    attn_mask (PyTorch's convention: True = NOT allowed, the opposite of symbreak's mask).
                    It always scales by 1/sqrt(d_head) and needs d_v == d_head, which the handshake
                    declares so the validator generates only such cases.

Both modes also serve backward cases through autograd (the handshake says "backward"), and the
version-2 cases PyTorch 1.13 can express: causal with n_q != n_k top-left aligned (causal=top-left:
the mask given to PyTorch is tril over (n_q, n_k)), per-head masks (mha: a 3-D attn_mask of
batch*heads planes), and key lengths (padding; mha: key_padding_mask). Not declared: grouped heads
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


def load_case(directory):
    q = torch.from_numpy(np.load(os.path.join(directory, "q.npy")))
    k = torch.from_numpy(np.load(os.path.join(directory, "k.npy")))
    v = torch.from_numpy(np.load(os.path.join(directory, "v.npy")))
    with open(os.path.join(directory, "case.json")) as f:
        case = json.load(f)
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
    d_out = None
    if case.get("pass") == "backward":
        d_out = torch.from_numpy(np.load(os.path.join(directory, "d_out.npy")))
    return q, k, v, allowed, padded, float(case["scale"]), d_out


def functional(q, k, v, allowed, padded, scale):
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale
    scores = scores.masked_fill(~allowed | padded[:, None, None, :], float("-inf"))
    return torch.matmul(torch.nn.functional.softmax(scores, dim=-1), v)


def multihead(q, k, v, allowed, padded, scale):
    batch, heads, n_q, d = q.shape
    n_k, e = k.shape[2], heads * d
    mha = torch.nn.MultiheadAttention(e, heads, bias=False, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.eye(e).repeat(3, 1))  # identity projections: the bare op
        mha.out_proj.weight.copy_(torch.eye(e))
    mha.eval()

    def tokens_first(x, n):  # (batch, heads, n, d) -> (batch, n, heads*d)
        return x.permute(0, 2, 1, 3).reshape(batch, n, e)

    # PyTorch: True = masked out; a 3-D attn_mask has one (n_q, n_k) plane per batch item and head.
    out, _ = mha(tokens_first(q, n_q), tokens_first(k, n_k), tokens_first(v, n_k),
                 attn_mask=~allowed.reshape(batch * heads, n_q, n_k),
                 key_padding_mask=padded if padded.any() else None, need_weights=False)
    return out.reshape(batch, n_q, heads, d).permute(0, 2, 1, 3)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["functional", "mha"], default="functional")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run = functional if args.mode == "functional" else multihead
    # masked-finite: PyTorch 1.13 multiplies masked value rows by their zero weight, so a NaN there
    # reaches the output (pytorch#101967); MASKED-INDEPENDENCE then uses finite poisons only.
    # empty-rows=nan: a row with every key masked is softmax's 0/0 = NaN (pytorch#41508), PyTorch
    # 1.13's contract; EMPTY-ROWS checks that it is NaN exactly there.
    print("symbreak-exec 1 none explicit causal=top-left padding mask=per-head backward masked-finite empty-rows=nan" +
          ("" if args.mode == "functional" else " dv=dhead scale=default"), flush=True)

    def save(directory, name, tensor):
        tmp = os.path.join(directory, name + ".tmp.npy")
        np.save(tmp, tensor.detach().contiguous().numpy().astype(np.float32))
        os.replace(tmp, os.path.join(directory, name + ".npy"))

    for line in sys.stdin:
        directory = line.strip()
        if not directory:
            continue
        try:
            q, k, v, allowed, padded, scale, d_out = load_case(directory)
            if d_out is None:
                with torch.no_grad():
                    save(directory, "out", run(q, k, v, allowed, padded, scale))
            else:
                for t in (q, k, v):
                    t.requires_grad_(True)
                run(q, k, v, allowed, padded, scale).backward(d_out)
                for name, t in (("d_q", q), ("d_k", k), ("d_v", v)):
                    # autograd leaves an input that does not influence the output without a gradient
                    save(directory, name, t.grad if t.grad is not None else torch.zeros_like(t))
            print("ok", flush=True)
        except Exception as error:  # the validator reports it for this case and goes on
            print("error: " + str(error).replace("\n", " "), flush=True)


if __name__ == "__main__":
    main()
