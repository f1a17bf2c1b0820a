#!/usr/bin/python3
"""Held-apart evaluation sets, and the fixture's accuracy in PyTorch with and without cross-chunk attention.

    evaluate.py write-sets --out DIR        heldout.jsonl (500 + 500), heldout-small.jsonl (50 + 50) and
                                            heldout-hard.jsonl (250 single, 250 cross, 500 mid, 500 twohop)
    evaluate.py score --model DIR --dataset FILE [--limit N]

`score` reports exact match (greedy answer token, then the end token) per question kind for
  full    — the whole prompt prefilled, and
  reuse   — each chunk's K/V computed alone after the prefix, at positions continuing it, then
            keys re-rotated to the chunk's place in the prompt; only the question is computed.
The engine's own numbers come from `chunkkv eval`; these are the trainer's check that the task
discriminates.
"""
import argparse
import json
import os
import random
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
import corpus  # noqa: E402
import layout  # noqa: E402
from model import Config, Llama, rope_tables, rotate  # noqa: E402

CHUNK_TOKENS = 128
SEEDS = {"heldout": 1001, "heldout-small": 1002, "heldout-hard": 1003}
# The hard set: the new kinds at 500 each, the old ones beside them so nothing is forgotten.
HARD_KINDS = {"single": 250, "cross": 250, "mid": 500, "twohop": 500}


def held_apart(seed, per_kind, tokenizer, hard=False):
    """`per_kind`: questions of each kind (a number for single and cross, or a dict of kind: count)."""
    rng = random.Random(seed)
    vocab = corpus.Vocabulary()
    counts = per_kind if isinstance(per_kind, dict) else {"single": per_kind, "cross": per_kind}
    records = []
    for kind, count in counts.items():
        while sum(r["kind"] == kind for r in records) < count:
            example = corpus.make_example(rng, vocab, rng.randint(2, 10), CHUNK_TOKENS, lambda s: len(tokenizer.encode(" " + s)), hard)
            asked = [q for q in example.questions if q[0] == kind]
            if not asked:
                continue
            if kind != "single" and sum(q[0] in ("cross", "mid") for q in example.questions) < 2:
                continue  # at least two cross-chunk facts, so none is answerable by elimination
            _, question, answer = rng.choice(asked)
            records.append({"id": f"{kind}-{len([r for r in records if r['kind'] == kind]):04d}", "kind": kind,
                            "prefix": corpus.PREFIX, "chunks": example.chunks, "question": question, "answer": answer})
    return records


def load(directory):
    with open(os.path.join(directory, "config.json")) as f:
        hf = json.load(f)
    config = Config(hf["vocab_size"], hf["hidden_size"], hf["num_hidden_layers"], hf["num_attention_heads"],
                    hf["num_key_value_heads"], hf["intermediate_size"], hf["rope_theta"], hf["rms_norm_eps"])
    model = Llama(config)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
    from forward import load_safetensors  # noqa: E402
    weights = load_safetensors(os.path.join(directory, "model.safetensors"))
    state = {name: weights[hf_name].to(torch.float32) for name, hf_name in _names(model)}
    model.load_state_dict(state)
    return model, bpe.Tokenizer.load(os.path.join(directory, "tokenizer.json"))


def _names(model):
    hf = {id(t): name for name, t in model.hf_state().items()}
    return [(name, hf[id(p)]) for name, p in model.state_dict(keep_vars=True).items()]


@torch.no_grad()
def first_tokens(model, tokenizer, record, method):
    """The greedy answer's first two tokens under `method` ('full' or 'reuse')."""
    prefix, chunks, question = layout.pieces(tokenizer, record["prefix"], record["chunks"], record["question"])
    if method == "full":
        ids = torch.tensor([prefix + [t for c in chunks for t in c] + question])
        hidden, past = model.hidden_states(ids)
    else:
        _, prefix_kv = model.hidden_states(torch.tensor([prefix]))
        fused = [list(kv) for kv in prefix_kv]
        at = len(prefix)
        for chunk in chunks:
            _, kv = model.hidden_states(torch.tensor([chunk]), past=prefix_kv)
            cos, sin = rope_tables(model.c, torch.full((len(chunk),), at - len(prefix)))
            for layer, (k, v) in enumerate(kv):
                fused[layer][0] = torch.cat([fused[layer][0], rotate(k, cos, sin)], dim=2)
                fused[layer][1] = torch.cat([fused[layer][1], v], dim=2)
            at += len(chunk)
        past = [tuple(kv) for kv in fused]
        hidden, new = model.hidden_states(torch.tensor([question]), past=past)
        past = [(torch.cat([p[0], n[0]], 2), torch.cat([p[1], n[1]], 2)) for p, n in zip(past, new)]
    first = model.logits_at(hidden[0, -1]).argmax().item()
    after, _ = model.hidden_states(torch.tensor([[first]]), past=past)
    return first, model.logits_at(after[0, -1]).argmax().item()


def score(model, tokenizer, records, methods=("full", "reuse")):
    results = {}
    kinds = list(dict.fromkeys(r["kind"] for r in records))
    for method in methods:
        for kind in kinds:
            chosen = [r for r in records if r["kind"] == kind]
            correct = 0
            for record in chosen:
                expected = layout.answer_ids(tokenizer, record["answer"])
                correct += list(first_tokens(model, tokenizer, record, method)) == expected[:2]
            results[f"{method}/{kind}"] = correct / max(1, len(chosen))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    write = sub.add_parser("write-sets")
    write.add_argument("--out", required=True)
    write.add_argument("--tokenizer", required=True, help="the model's tokenizer.json (chunks are sized in its tokens)")
    run = sub.add_parser("score")
    run.add_argument("--model", required=True)
    run.add_argument("--dataset", required=True)
    run.add_argument("--limit", type=int, default=0, help="questions per kind (0: all)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.command == "write-sets":
        tokenizer = bpe.Tokenizer.load(args.tokenizer)
        os.makedirs(args.out, exist_ok=True)
        layout.write_jsonl(os.path.join(args.out, "heldout.jsonl"), held_apart(SEEDS["heldout"], 500, tokenizer))
        layout.write_jsonl(os.path.join(args.out, "heldout-small.jsonl"), held_apart(SEEDS["heldout-small"], 50, tokenizer))
        layout.write_jsonl(os.path.join(args.out, "heldout-hard.jsonl"), held_apart(SEEDS["heldout-hard"], HARD_KINDS, tokenizer, True))
        return
    model, tokenizer = load(args.model)
    with open(args.dataset) as f:
        records = [json.loads(line) for line in f]
    if args.limit:
        kinds = dict.fromkeys(r["kind"] for r in records)
        records = [r for kind in kinds for r in records if r["kind"] == kind][:0] + \
            [r for kind in kinds for r in [x for x in records if x["kind"] == kind][:args.limit]]
    print(json.dumps(score(model, tokenizer, records)))


if __name__ == "__main__":
    main()
