"""A nanoGPT-style model (karpathy/nanoGPT's model.py, shrunk): token and optional learned position
embeddings, pre-LayerNorm blocks of causal self-attention and a GELU MLP, a linear head. `leak`
plants the classic mask bug: query i also sees key i + 1 (j <= i + 1)."""
import math

import torch
import torch.nn as nn


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd, n_head, block_size, causal, leak):
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.n_head = n_head
        offset = 1 if leak else 0
        allowed = torch.ones(block_size, block_size).tril(diagonal=offset) if causal else torch.ones(block_size, block_size)
        self.register_buffer("allowed", allowed.bool())

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))
        att = att.masked_fill(~self.allowed[:t, :t], float("-inf")).softmax(dim=-1)
        return self.c_proj((att @ v).transpose(1, 2).reshape(b, t, c))


class Block(nn.Module):
    def __init__(self, n_embd, n_head, block_size, causal, leak):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, block_size, causal, leak)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, vocab=13, block_size=8, n_embd=16, n_head=2, n_layer=2, positions=True, causal=True, leak=False, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.wte = nn.Embedding(vocab, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd) if positions else None
        self.blocks = nn.ModuleList(Block(n_embd, n_head, block_size, causal, leak) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab, bias=False)

    def forward(self, idx):  # [batch, n] int64 -> [batch, n, vocab]
        x = self.wte(idx)
        if self.wpe is not None:
            x = x + self.wpe(torch.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))
