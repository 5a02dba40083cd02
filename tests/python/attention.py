"""Attention kernels written the way a PyTorch user writes them, for the symbreak Python tests."""
import numpy as np
import torch


def visible(params):
    """[batch][heads][n_q][n_k] bool: True where query i may attend key j (mask, causal top-left, kv_lens)."""
    b, h, n_q, n_k = params["batch"], params["heads"], params["n_q"], params["n_k"]
    allowed = torch.ones(b, h, n_q, n_k, dtype=torch.bool)
    if params["mask"] is not None:
        allowed &= params["mask"] if torch.is_tensor(params["mask"]) else torch.from_numpy(params["mask"])
    if params["causal"]:
        allowed &= torch.ones(n_q, n_k, dtype=torch.bool).tril()
    if params["kv_lens"] is not None:
        for i, length in enumerate(params["kv_lens"].tolist()):
            allowed[i, :, :, length:] = False
    return allowed


def functional(q, k, v, params, leak=False):
    """matmul + softmax with an additive -inf mask (torch tensors); leak=True plants the classic bug:
    the causal mask lets query i see key i + 1."""
    allowed = visible(params)
    if leak and params["causal"]:
        n_q, n_k = params["n_q"], params["n_k"]
        allowed |= torch.ones(n_q, n_k, dtype=torch.bool).tril(diagonal=1) & (
            params["mask"] if params["mask"] is not None else torch.ones(n_q, n_k, dtype=torch.bool))
    scores = torch.matmul(q * params["scale"], k.transpose(-1, -2))
    if params["bias"] is not None:
        scores = scores + params["bias"].to(scores.dtype)
    scores = scores.masked_fill(~allowed, float("-inf"))
    return torch.matmul(torch.softmax(scores, dim=-1), v)


def functional_backward(q, k, v, o, d_out, params):
    leaves = [t.clone().requires_grad_(True) for t in (q, k, v)]
    out = functional(*leaves, params)
    out.backward(d_out.clone())
    return tuple(t.grad if t.grad is not None else torch.zeros_like(t) for t in leaves)


def multihead(q, k, v, params):
    """torch.nn.MultiheadAttention with identity projections (batch_first): the bare op."""
    batch, heads, n_q, d = q.shape
    n_k, e = k.shape[2], heads * d
    mha = torch.nn.MultiheadAttention(e, heads, bias=False, batch_first=True).to(q.dtype)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.eye(e).repeat(3, 1))
        mha.out_proj.weight.copy_(torch.eye(e))
    mha.eval()

    def tokens_first(x, n):  # (batch, heads, n, d) -> (batch, n, heads*d)
        return x.permute(0, 2, 1, 3).reshape(batch, n, e)

    attn_mask = ~visible(params).reshape(batch * heads, n_q, n_k)  # PyTorch: True = NOT allowed
    out, _ = mha(tokens_first(q, n_q), tokens_first(k, n_k), tokens_first(v, n_k), attn_mask=attn_mask, need_weights=False)
    return out.reshape(batch, n_q, heads, d).permute(0, 2, 1, 3)


def multihead_backward(q, k, v, o, d_out, params):
    leaves = [t.clone().requires_grad_(True) for t in (q, k, v)]
    multihead(*leaves, params).backward(d_out.clone())
    return tuple(t.grad if t.grad is not None else torch.zeros_like(t) for t in leaves)


def numpy_attention(q, k, v, params):
    """A NumPy kernel (float64 inside, float32 out). It multiplies every value row by its weight, so
    a NaN in a masked value reaches the output: declared masked-finite."""
    allowed = visible(params).numpy()
    s = np.einsum("bhid,bhjd->bhij", q.astype(np.float64), k.astype(np.float64)) * params["scale"]
    s = np.where(allowed, s, -np.inf)
    m = s.max(-1, keepdims=True)
    w = np.exp(s - m)
    w = w / w.sum(-1, keepdims=True)
    return np.einsum("bhij,bhjd->bhid", w, v.astype(np.float64)).astype(np.float32)
