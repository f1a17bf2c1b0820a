"""A Llama (LlamaForCausalLM's equations and weight names) in plain PyTorch 1.13, for training on CPU.

RMSNorm, rotate-half RoPE, grouped-query causal attention, SwiGLU, tied embeddings. Saving writes
Hugging Face's config.json and model.safetensors (f16), which the engine loads like any model.
"""
import json
import math
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F


class Config:
    def __init__(self, vocab_size, hidden=256, layers=4, heads=4, kv_heads=2, intermediate=768, rope_theta=10000.0,
                 eps=1e-5, max_positions=4096):
        self.vocab_size, self.hidden, self.layers = vocab_size, hidden, layers
        self.heads, self.kv_heads, self.intermediate = heads, kv_heads, intermediate
        self.head_dim = hidden // heads
        self.rope_theta, self.eps, self.max_positions = rope_theta, eps, max_positions

    def to_hf(self, bos_id, eos_id, pad_id):
        return {
            "architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "vocab_size": self.vocab_size, "hidden_size": self.hidden, "intermediate_size": self.intermediate,
            "num_hidden_layers": self.layers, "num_attention_heads": self.heads, "num_key_value_heads": self.kv_heads,
            "head_dim": self.head_dim, "hidden_act": "silu", "rms_norm_eps": self.eps, "rope_theta": self.rope_theta,
            "max_position_embeddings": self.max_positions, "tie_word_embeddings": True, "attention_bias": False,
            "mlp_bias": False, "torch_dtype": "float16", "bos_token_id": bos_id, "eos_token_id": eos_id,
            "pad_token_id": pad_id,
        }


class RmsNorm(nn.Module):
    def __init__(self, size, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rope_tables(config, positions):
    inv = 1.0 / config.rope_theta ** (torch.arange(0, config.head_dim, 2, dtype=torch.float64, device=positions.device) / config.head_dim)
    angles = positions.to(torch.float64)[..., None] * inv
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos().to(torch.float32), angles.sin().to(torch.float32)


def rotate(x, cos, sin):
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.input_layernorm = RmsNorm(c.hidden, c.eps)
        self.post_attention_layernorm = RmsNorm(c.hidden, c.eps)
        self.q_proj = nn.Linear(c.hidden, c.heads * c.head_dim, bias=False)
        self.k_proj = nn.Linear(c.hidden, c.kv_heads * c.head_dim, bias=False)
        self.v_proj = nn.Linear(c.hidden, c.kv_heads * c.head_dim, bias=False)
        self.o_proj = nn.Linear(c.heads * c.head_dim, c.hidden, bias=False)
        self.gate_proj = nn.Linear(c.hidden, c.intermediate, bias=False)
        self.up_proj = nn.Linear(c.hidden, c.intermediate, bias=False)
        self.down_proj = nn.Linear(c.intermediate, c.hidden, bias=False)

    def forward(self, x, cos, sin, mask, past=None):
        """`past`: this layer's cached (keys after RoPE, values), attended before the new tokens."""
        c = self.c
        b, t, _ = x.shape
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(b, t, c.heads, c.head_dim).transpose(1, 2)
        k = self.k_proj(h).view(b, t, c.kv_heads, c.head_dim).transpose(1, 2)
        v = self.v_proj(h).view(b, t, c.kv_heads, c.head_dim).transpose(1, 2)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        present = (k, v)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        group = c.heads // c.kv_heads
        k = k.repeat_interleave(group, dim=1)
        v = v.repeat_interleave(group, dim=1)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(c.head_dim) + mask
        attended = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, -1)
        x = x + self.o_proj(attended)
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h)), present


class Llama(nn.Module):
    def __init__(self, c, init="fan-in"):
        """`init`: "fan-in" draws each matrix at std 1/sqrt(fan-in) (the embeddings at 1/sqrt(hidden));
        "gpt2" draws every matrix at std 0.02, the output projections scaled down by sqrt(2·layers).
        At this width 0.02 is a fifth of fan-in scale, and with it a lookup of a value by its key did
        not form in 17 minutes of probing; at fan-in scale it formed within 300 steps."""
        super().__init__()
        self.c = c
        self.embed_tokens = nn.Embedding(c.vocab_size, c.hidden)
        self.layers = nn.ModuleList(Layer(c) for _ in range(c.layers))
        self.norm = RmsNorm(c.hidden, c.eps)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                if init == "gpt2":
                    std = 0.02 / math.sqrt(2 * c.layers) if name.endswith(("o_proj.weight", "down_proj.weight")) else 0.02
                else:
                    std = 1.0 / math.sqrt(c.hidden if "embed" in name else p.shape[1])
                nn.init.normal_(p, std=std)

    def hidden_states(self, ids, positions=None, past=None, mask=None):
        """Final hidden states of `ids` (after `past`, a per-layer list of (keys, values)), and their K/V.

        `positions` may be per sequence ([batch, tokens]) and `mask` ([batch, 1, tokens, tokens],
        0 or -inf) may replace the causal one: training uses both to let several questions share
        one context without seeing each other.
        """
        b, t = ids.shape
        cached = 0 if past is None else past[0][0].shape[2]
        if positions is None:
            positions = torch.arange(cached, cached + t, device=ids.device)
        cos, sin = rope_tables(self.c, positions)
        if positions.dim() == 2:
            cos, sin = cos[:, None], sin[:, None]
        if mask is None:
            mask = torch.full((t, cached + t), float("-inf"), device=ids.device).triu(1 + cached)
        x = self.embed_tokens(ids)
        presents = []
        for i, layer in enumerate(self.layers):
            x, present = layer(x, cos, sin, mask, None if past is None else past[i])
            presents.append(present)
        return self.norm(x), presents

    def logits_at(self, hidden):
        return hidden @ self.embed_tokens.weight.T

    # ---- Hugging Face layout -------------------------------------------------------------
    def hf_state(self):
        out = {"model.embed_tokens.weight": self.embed_tokens.weight, "model.norm.weight": self.norm.weight}
        for i, layer in enumerate(self.layers):
            p = f"model.layers.{i}."
            out[p + "input_layernorm.weight"] = layer.input_layernorm.weight
            out[p + "post_attention_layernorm.weight"] = layer.post_attention_layernorm.weight
            for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
                out[p + f"self_attn.{name}.weight"] = getattr(layer, name).weight
            for name in ("gate_proj", "up_proj", "down_proj"):
                out[p + f"mlp.{name}.weight"] = getattr(layer, name).weight
        return out

    def round_to_f16(self):
        """Rounds every weight as saving does, so evaluation here sees the numbers the engine loads."""
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(p.to(torch.float16).to(torch.float32))


def save_safetensors(tensors, path):
    header = {}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        data = tensors[name].detach().to(torch.float16).cpu().contiguous().numpy().tobytes()
        header[name] = {"dtype": "F16", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt"}
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)
