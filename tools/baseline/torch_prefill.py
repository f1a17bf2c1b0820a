#!/usr/bin/python3
"""PyTorch's fp32 CPU prefill of a Llama-family shape, for `chunkkv bench prefill` to be compared with.

Speed only: the weights are random at the shape config.json gives (a model directory that
`chunkkv bench prefill` wrote, or any Hugging Face one), so nothing is read but the config.
The forward is the one the reference pass computes, arranged for speed the way a tuned PyTorch
deployment would: inference mode, F.linear with q/k/v and gate/up each stacked into one GEMM, grouped-query attention by batched
matmuls over the query heads of each KV head (K and V never copied), and causal attention in
query blocks so no n x n buffer exists and the blocks after the diagonal are skipped.
Run it through tools/baseline/torch-prefill.sh, which sets the environment it is tuned under.

    /usr/bin/python3 tools/baseline/torch_prefill.py MODEL_DIR --tokens 512,2048,4096 [--threads 2]

prints one JSON line per length: {"tokens": n, "seconds": best}.
"""
import argparse
import json
import math
import os
import time

import torch

QUERY_BLOCK = 512
# F.linear reaches OpenBLAS's sgemm at full speed here; `x @ w.t()` took a path at about half of it.
linear = torch.nn.functional.linear


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--tokens", default="512,2048,4096")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with open(os.path.join(args.model, "config.json")) as f:
        config = json.load(f)
    model = RandomModel(config)
    with torch.inference_mode():
        model.prefill(torch.randint(0, model.vocab, (256,)))  # warm-up: allocator, thread pools
        for n in [int(t) for t in args.tokens.split(",")]:
            best = math.inf
            for _ in range(3 if n < 2048 else 2):
                ids = torch.randint(0, model.vocab, (n,))
                start = time.perf_counter()
                model.prefill(ids)
                best = min(best, time.perf_counter() - start)
            print(json.dumps({"tokens": n, "seconds": round(best, 4)}), flush=True)


class RandomModel:
    def __init__(self, c):
        generator = torch.Generator().manual_seed(0)

        def weight(*shape):
            return torch.randn(*shape, generator=generator) * 0.02

        self.hidden = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.kv_heads = c.get("num_key_value_heads", self.heads)
        self.head_dim = c.get("head_dim") or self.hidden // self.heads
        self.vocab = c["vocab_size"]
        self.eps = c.get("rms_norm_eps", 1e-6)
        self.theta = c.get("rope_theta", 10000.0)
        intermediate = c["intermediate_size"]
        biased = c.get("architectures", [""])[0] == "Qwen2ForCausalLM"
        q_width, kv_width = self.heads * self.head_dim, self.kv_heads * self.head_dim
        self.embedding = weight(self.vocab, self.hidden)
        self.layers = []
        for _ in range(c["num_hidden_layers"]):
            self.layers.append({
                "qkv": weight(q_width + 2 * kv_width, self.hidden),
                "qkv_bias": weight(q_width + 2 * kv_width) if biased else None,
                "o": weight(self.hidden, q_width),
                "gate_up": weight(2 * intermediate, self.hidden),
                "down": weight(self.hidden, intermediate),
                "norm1": torch.ones(self.hidden),
                "norm2": torch.ones(self.hidden),
            })
        self.final_norm = torch.ones(self.hidden)

    def rms_norm(self, x, weight):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * weight

    def rope(self, x, cos, sin):
        half = self.head_dim // 2
        x1, x2 = x[..., :half], x[..., half:]
        return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)

    def attention(self, q, k, v):
        # q [heads, n, d] -> [kv_heads, group, n, d]; k, v [kv_heads, n, d]
        n = q.shape[1]
        group = self.heads // self.kv_heads
        q = q.view(self.kv_heads, group, n, self.head_dim) / math.sqrt(self.head_dim)
        out = torch.empty_like(q)
        for start in range(0, n, QUERY_BLOCK):
            end = min(n, start + QUERY_BLOCK)
            block = q[:, :, start:end].reshape(self.kv_heads, group * (end - start), self.head_dim)
            scores = torch.bmm(block, k[:, :end].transpose(1, 2)).view(self.kv_heads, group, end - start, end)
            causal = torch.ones(end - start, end, dtype=torch.bool).triu_(start + 1)
            scores.masked_fill_(causal, float("-inf"))
            weights = torch.softmax(scores, dim=-1).view(self.kv_heads, group * (end - start), end)
            out[:, :, start:end] = torch.bmm(weights, v[:, :end]).view(self.kv_heads, group, end - start, self.head_dim)
        return out.view(self.heads, n, self.head_dim)

    def prefill(self, ids):
        n = ids.shape[0]
        positions = torch.arange(n, dtype=torch.float64)
        frequencies = 1.0 / self.theta ** (torch.arange(0, self.head_dim, 2, dtype=torch.float64) / self.head_dim)
        angles = torch.outer(positions, frequencies)
        cos, sin = angles.cos().float(), angles.sin().float()
        q_width, kv_width = self.heads * self.head_dim, self.kv_heads * self.head_dim
        x = self.embedding[ids]
        for w in self.layers:
            h = self.rms_norm(x, w["norm1"])
            qkv = linear(h, w["qkv"], w["qkv_bias"])
            q = qkv[:, :q_width].view(n, self.heads, self.head_dim).transpose(0, 1)
            k = qkv[:, q_width:q_width + kv_width].view(n, self.kv_heads, self.head_dim).transpose(0, 1)
            v = qkv[:, q_width + kv_width:].view(n, self.kv_heads, self.head_dim).transpose(0, 1).contiguous()
            q, k = self.rope(q, cos, sin), self.rope(k, cos, sin).contiguous()
            attended = self.attention(q, k, v).transpose(0, 1).reshape(n, q_width)
            x = x + linear(attended, w["o"])
            h = self.rms_norm(x, w["norm2"])
            gate, up = linear(h, w["gate_up"]).chunk(2, dim=-1)
            x = x + linear(torch.nn.functional.silu(gate) * up, w["down"])
        last = self.rms_norm(x[-1:], self.final_norm)
        return linear(last, self.embedding)


if __name__ == "__main__":
    main()
