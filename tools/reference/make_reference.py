#!/usr/bin/python3
"""Writes the reference logits the engine's tests compare against.

For each case: `chunkkv random-model` writes a tiny model (deterministic weights), forward.py computes
the last position's logits in float64, and the case goes into
tests/ChunkKv.Inference.Tests/Models/reference-logits.json with the SHA-256 of the weights file, so a
test can tell a changed generator from a wrong forward pass.

    /usr/bin/python3 tools/reference/make_reference.py
"""
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import forward  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUTPUT = os.path.join(ROOT, "tests", "ChunkKv.Inference.Tests", "Models", "reference-logits.json")


def cases():
    rng = random.Random(7)
    short = [5, 17, 300, 2, 99, 7, 250]
    long_ids = [rng.randrange(384) for _ in range(300)]  # crosses the attention tiles (64 queries, 256 keys)
    gaps = sorted(rng.sample(range(0, 5000), 40))        # explicit positions, far enough to reach Llama 3 scaling
    for shape in ["tiny-llama3", "tiny-mistral", "tiny-qwen2", "tiny-qwen3"]:
        yield dict(name=f"{shape}-short", shape=shape, dtype="f32", ids=short, positions=list(range(len(short))))
        yield dict(name=f"{shape}-300", shape=shape, dtype="f32", ids=long_ids, positions=list(range(300)))
        yield dict(name=f"{shape}-gaps", shape=shape, dtype="f32", ids=long_ids[:40], positions=gaps)
    yield dict(name="tiny-qwen3-bf16", shape="tiny-qwen3", dtype="bf16", ids=short, positions=list(range(len(short))))
    yield dict(name="tiny-llama3-f16", shape="tiny-llama3", dtype="f16", ids=short, positions=list(range(len(short))))


def main():
    chunkkv = os.path.join(ROOT, "scripts", "chunkkv")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases():
            model = os.path.join(tmp, f"{case['shape']}-{case['dtype']}")
            if not os.path.exists(model):
                subprocess.run([chunkkv, "random-model", "--shape", case["shape"], "--dtype", case["dtype"],
                                "--seed", "1", "--out", model], check=True, stdout=subprocess.DEVNULL)
            with open(os.path.join(model, "model.safetensors"), "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            config, weights = forward.load_model(model)
            logits = forward.forward(config, weights, case["ids"], case["positions"])[-1]
            results.append(dict(case, seed=1, weights_sha256=digest, logits=[round(x, 9) for x in logits.tolist()]))
            print(f"{case['name']}: max |logit| {logits.abs().max().item():.3f}", file=sys.stderr)
    with open(OUTPUT, "w") as f:
        json.dump({"generator": "tools/reference/make_reference.py (float64 PyTorch)", "cases": results}, f)
        f.write("\n")


if __name__ == "__main__":
    main()
