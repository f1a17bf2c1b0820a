#!/usr/bin/python3
"""After training: the held-apart sets, the reference the engine is checked against, the loss curve.

    finish.py --work .build/fixture-train --model tests/fixtures/fixture-model
    finish.py --model tests/fixtures/fixture-model      (no --work: evaluate again, see below)

writes into the model directory
  eval/heldout.jsonl, eval/heldout-small.jsonl   held-apart questions (seeds 1001 and 1002; training used 1)
  eval/heldout-hard.jsonl                         the hard kinds beside the old ones (seed 1003)
  reference.json     for the first prompts of heldout-small: the trainer's token ids and its own
                     forward pass's last-position logits (f32, with the f16 weights the engine loads)
  loss.svg           training loss and accuracy per step
  training.json      the run's figures: steps, minutes, tokens, stages, PyTorch accuracies

Without --work (the run's work folders are gone, e.g. after the task generator changed), only the
sets, the samples, the reference and the accuracies are written again; training.json keeps the
run's figures and loss.svg stays as it is.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import evaluate  # noqa: E402
import layout  # noqa: E402

REFERENCE_PROMPTS = 6


def loss_svg(log, path):
    width, height, pad = 720, 320, 40
    steps = [e["step"] for e in log]
    losses = [e["loss"] for e in log]
    top = max(losses)

    def x(step):
        return pad + (width - 2 * pad) * (step - steps[0]) / max(1, steps[-1] - steps[0])

    def curve(values, scale):
        smooth, window = [], 20
        for i in range(len(values)):
            part = values[max(0, i - window + 1):i + 1]
            smooth.append(sum(part) / len(part))
        return " ".join(f"{x(s):.1f},{height - pad - (height - 2 * pad) * v / scale:.1f}" for s, v in zip(steps, smooth))

    stage_lines = "".join(
        f'<line x1="{x(e["step"]):.1f}" y1="{pad}" x2="{x(e["step"]):.1f}" y2="{height - pad}" stroke="#bbb" stroke-dasharray="4"/>'
        f'<text x="{x(e["step"]) + 3:.1f}" y="{pad + 12}" font-size="10" fill="#777">stage {e["stage"]}</text>'
        for prev, e in zip(log, log[1:]) if e["stage"] != prev["stage"])
    svg = f'''<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="{pad}" y="20" font-size="13">fixture model training: answer loss (blue, 0-{top:.1f}) and answer accuracy single (green) / cross (orange), 0-1; smoothed over 20 steps</text>
<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="black"/>
<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="black"/>
<text x="{pad}" y="{height - 10}" font-size="11">step {steps[0]}</text>
<text x="{width - pad}" y="{height - 10}" font-size="11" text-anchor="end">step {steps[-1]}</text>
{stage_lines}
<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{curve(losses, top)}"/>
<polyline fill="none" stroke="#2ca02c" stroke-width="1.5" points="{curve([e["single"] for e in log], 1)}"/>
<polyline fill="none" stroke="#ff7f0e" stroke-width="1.5" points="{curve([e["cross"] for e in log], 1)}"/>
</svg>
'''
    with open(path, "w") as f:
        f.write(svg)


@torch.no_grad()
def reference(model, tokenizer, records):
    prompts = []
    for record in records[:REFERENCE_PROMPTS // 2] + [r for r in records if r["kind"] == "cross"][:REFERENCE_PROMPTS // 2]:
        prefix, chunks, question = layout.pieces(tokenizer, record["prefix"], record["chunks"], record["question"])
        ids = prefix + [t for c in chunks for t in c] + question
        hidden, _ = model.hidden_states(torch.tensor([ids]))
        logits = model.logits_at(hidden[0, -1])
        prompts.append({"id": record["id"], "prefix_ids": prefix, "chunk_ids": chunks, "question_ids": question,
                        "answer_ids": layout.answer_ids(tokenizer, record["answer"]), "last_logits": [round(v, 6) for v in logits.tolist()]})
    return {"note": "the trainer's own forward pass (tools/fixture-model/model.py, f32 arithmetic on the f16 weights)", "prompts": prompts}


def samples(tokenizer, directory):
    """The main job's sample documents: worlds of the task, one chunk a paragraph, with questions they answer.
    Each document has people of its own: one collection holds all three, and a name in two of them
    would give its questions two answers."""
    import random
    import re
    import corpus
    rng = random.Random(2024)
    vocab = corpus.Vocabulary()
    os.makedirs(directory, exist_ok=True)
    questions = []
    for d in range(3):
        example = corpus.make_example(rng, vocab, 6, evaluate.CHUNK_TOKENS, lambda s: len(tokenizer.encode(" " + s)))
        with open(os.path.join(directory, f"team-notes-{d + 1}.txt"), "w") as f:
            f.write("\n\n".join(example.chunks) + "\n")
        named = set(re.findall(r"[A-Z][a-z]+", " ".join(example.chunks)))
        vocab.people = [p for p in vocab.people if p not in named]
        for kind in ("single", "cross"):
            kind_questions = [q for q in example.questions if q[0] == kind]
            if kind_questions:
                _, question, answer = rng.choice(kind_questions)
                questions.append({"document": f"team-notes-{d + 1}", "kind": kind, "question": question, "answer": answer})
    with open(os.path.join(directory, "questions.json"), "w") as f:
        json.dump(questions, f, indent=2)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", action="append", default=[],
                        help="a phase's work folder (its checkpoint holds the phase's log); repeat for each phase, in order")
    parser.add_argument("--model", required=True)
    parser.add_argument("--score-limit", type=int, default=500, help="held-apart questions per kind scored in PyTorch")
    args = parser.parse_args()
    if not args.work and not os.path.exists(os.path.join(args.model, "training.json")):
        parser.error(f"without --work, {args.model} needs the training.json whose figures it keeps")
    torch.set_num_threads(2)
    model, tokenizer = evaluate.load(args.model)
    eval_dir = os.path.join(args.model, "eval")
    os.makedirs(eval_dir, exist_ok=True)
    sets = {}
    for name, per_kind, hard in (("heldout", 500, False), ("heldout-small", 50, False), ("heldout-hard", evaluate.HARD_KINDS, True)):
        sets[name] = evaluate.held_apart(evaluate.SEEDS[name], per_kind, tokenizer, hard)
        layout.write_jsonl(os.path.join(eval_dir, f"{name}.jsonl"), sets[name])
    samples(tokenizer, os.path.join(args.model, "samples"))
    with open(os.path.join(args.model, "reference.json"), "w") as f:
        json.dump(reference(model, tokenizer, sets["heldout-small"]), f)
    chosen = [r for r in sets["heldout"] if r["kind"] == "single"][:args.score_limit] + \
             [r for r in sets["heldout"] if r["kind"] == "cross"][:args.score_limit]
    accuracy = evaluate.score(model, tokenizer, chosen)
    hard = [r for kind in evaluate.HARD_KINDS for r in [x for x in sets["heldout-hard"] if x["kind"] == kind][:args.score_limit]]
    accuracy_hard = evaluate.score(model, tokenizer, hard)
    report = os.path.join(args.model, "training.json")
    summary = training_figures(args.work, model, args.model) if args.work else _load(report)
    summary.update({"pytorch_accuracy_heldout": accuracy, "heldout_questions_per_kind": args.score_limit,
                    "pytorch_accuracy_heldout_hard": accuracy_hard})
    with open(report, "w") as f:
        json.dump(summary, f, indent=2)
    print(json.dumps(summary, indent=2))


def _load(path):
    with open(path) as f:
        return json.load(f)


def training_figures(work_folders, model, model_dir):
    """The run's figures from its phases' checkpoints; its loss curve is drawn into the model directory."""
    # Each checkpoint's own record, so an interrupted run finishes too.
    phases = [torch.load(os.path.join(w, "checkpoint.pt"), map_location="cpu", weights_only=False) for w in work_folders]
    log = [e for p in phases for e in p["state"]["log"]]
    loss_svg(log, os.path.join(model_dir, "loss.svg"))
    # A phase started from a committed model (train.py --init-from) whose own work folder is gone
    # carries that model's training.json: its figures count, its curve stays in the SVG it drew.
    earlier = phases[0]["state"].get("earlier")
    summary = {
        "command": "bash tools/fixture-model/make.sh",
        "args": phases[-1]["args"],
        "steps": phases[-1]["state"]["step"],
        "minutes": round(sum(p["state"]["elapsed"] for p in phases) / 60 + (earlier["minutes"] if earlier else 0), 1),
        "training_tokens": sum(e["tokens"] for e in log) + (earlier["training_tokens"] if earlier else 0),
        "stage_starts": {**(earlier["stage_starts"] if earlier else {}),
                         **{str(e["stage"]): e["step"] for prev, e in zip(log, log[1:]) if e["stage"] != prev["stage"]}},
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    if earlier:
        summary["started_from"] = {"step": earlier["steps"], "report": earlier}
    return summary


if __name__ == "__main__":
    main()
