#!/usr/bin/python3
"""Trains the fixture model, checkpointed and resumable, from a fixed seed; writes the model directory.

    /usr/bin/python3 tools/fixture-model/train.py --work .build/fixture-train --out tests/fixtures/fixture-model

Training examples are generated on the fly (seed 1); the evaluation sets come from other seeds
(evaluate.py writes them). The loss is on answer tokens only: the context is random facts, so
predicting it teaches nothing but noise, and skipping its vocabulary projection is most of the
cost saved. (--lm-weight adds a next-token loss over every token; tried at GPT-2's
initial scale, it did not lift the plateau there, and on a variant of the task where people are the answers it taught that a name
already seen will not come again, the opposite of copying.) Each training sequence asks several
questions one after another (at least half of them cross-chunk where the world has them), so one
pass over a context trains several lookups.

The curriculum starts on direct facts in a small world, where learning to look things up starts
early, and moves to all the people, pronouns and full-length chunks once the training accuracy says
the lookup works. At GPT-2's initial scale (std 0.02) the lookup never formed on 2 CPU cores; at
fan-in scale it forms within a few thousand steps (tests/fixtures/fixture-model/README.md).
"""
import argparse
import collections
import json
import math
import os
import random
import shutil
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
import corpus  # noqa: E402
import layout  # noqa: E402
from model import Config, Llama, save_safetensors  # noqa: E402

# A stage of the curriculum; it is left when training accuracy reaches ADVANCE_AT. The first base
# stage is plain associative recall; pronouns, fillers and long contexts come once lookup works.
# world: the world's people (None for all); facts: exact facts per chunk (direct facts only);
# one_attribute: the share of worlds whose facts are all of one attribute (None: --one-attribute-share).
Stage = collections.namedtuple("Stage", "chunk_tokens fewest most full_task world facts one_attribute",
                               defaults=(None, None, None))
BASE_STAGES = [Stage(24, 1, 2, False), Stage(24, 2, 3, True), Stage(48, 2, 5, True), Stage(128, 2, 10, True)]


def warm_up_stages(worlds, pairs_first):
    """Stages before the base ones, in worlds of a few people each (each name seen often), where the
    lookup forms first; with `pairs_first`, two facts of one attribute in the first world before
    that (the probe's setting in which the lookup formed fastest)."""
    if not worlds:
        return []
    first = [Stage(0, 1, 1, False, worlds[0], facts=2, one_attribute=1.0)] if pairs_first else []
    return first + [Stage(24, 1, 2, False, world) for world in worlds]


STAGES = BASE_STAGES
ADVANCE_AT = 0.9
QUESTIONS_PER_SEQUENCE = 8


def build_tokenizer(vocab):
    return bpe.Tokenizer.train(corpus.all_sentences_for_tokenizer(vocab), [corpus.END_TOKEN, corpus.PAD_TOKEN])


def training_sequence(rng, vocab, tokenizer, stage, chunk_count, one_attribute_share=0.0, recap=False, questions_per_chunk=0,
                      hard=False, near_two_hop=False):
    """One context and several questions: (ids, target positions, target ids, target kinds).

    With `recap` (warm-up worlds only), the chunks are followed by "Recap:" and every fact's
    sentence again, its value a target: "Brenna was born in" must continue as the notes said.
    That is the binding a question needs (value to person), supervised once per fact, in the
    form an induction circuit learns first: the same words before the value as in the notes.
    """
    tokens_of = lambda s: len(tokenizer.encode(" " + s))  # noqa: E731
    stage = STAGES[stage]
    if stage.world is not None:
        vocab = vocab.small(stage.world)
    if stage.full_task:
        example = corpus.make_example(rng, vocab, chunk_count, stage.chunk_tokens, tokens_of, hard)
    else:
        share = one_attribute_share if stage.one_attribute is None else stage.one_attribute
        example = corpus.make_direct_example(rng, vocab, chunk_count, stage.chunk_tokens, tokens_of, share, stage.facts)
    single = [q for q in example.questions if q[0] == "single"]
    rng.shuffle(single)
    # Questions asked in parallel (each sees only the context) cost a few tokens each against a
    # long context, so a long context can carry more of them: `questions_per_chunk` a chunk.
    questions = max(QUESTIONS_PER_SEQUENCE, questions_per_chunk * chunk_count)
    asked = _across_kinds(rng, [q for q in example.questions if q[0] != "single"], questions // 2)
    # With the hard kinds, single-chunk questions are no more than the others: a world has few
    # hard facts, and single ones would otherwise fill two thirds of the answers.
    single_slots = len(asked) if hard else questions - len(asked)
    if near_two_hop:
        # Half the single-chunk slots go to two-hop questions inside one chunk (corpus.py).
        near = rng.sample(example.near_two_hop, min(len(example.near_two_hop), single_slots // 2))
        asked += near
        single_slots -= len(near)
    asked += single[:single_slots]
    rng.shuffle(asked)
    prefix, chunks, _ = layout.pieces(tokenizer, corpus.PREFIX, example.chunks, "")
    ids = prefix + [t for chunk in chunks for t in chunk]
    positions, targets, kinds, segments = [], [], [], []
    if recap and example.facts:
        ids += tokenizer.encode("Recap:")
        for _, name, attribute, value in rng.sample(example.facts, len(example.facts)):
            ids += tokenizer.encode(" " + corpus.recap_stem(name, attribute))
            for token in tokenizer.encode(" " + value):
                positions.append(len(ids) - 1)
                targets.append(token)
                kinds.append("recap")
                ids.append(token)
            ids += tokenizer.encode(".")
    context_end = len(ids)
    for kind, question, answer in asked:
        segment_start = len(ids)
        ids += tokenizer.encode(corpus.QUESTION_TEMPLATE.format(question=question))
        answer_tokens = layout.answer_ids(tokenizer, answer)
        for i, token in enumerate(answer_tokens):
            positions.append(len(ids) - 1)  # the hidden state here predicts `token`
            targets.append(token)
            kinds.append(kind if i < len(answer_tokens) - 1 else "end")  # accuracy counts answer words only
            ids.append(token)
        segments.append((segment_start, len(ids)))
    return ids, positions, targets, kinds, context_end, segments


def _across_kinds(rng, questions, count):
    """Up to `count` of the questions, the kinds taken in turn, so a rare kind is asked as often as a common one."""
    by_kind = collections.defaultdict(list)
    for question in questions:
        by_kind[question[0]].append(question)
    for kind_questions in by_kind.values():
        rng.shuffle(kind_questions)
    queues = [by_kind[kind] for kind in sorted(by_kind)]
    asked = []
    while len(asked) < count and any(queues):
        for queue in queues:
            if queue and len(asked) < count:
                asked.append(queue.pop())
    return asked


def batches(rng, vocab, tokenizer, stage, token_budget, one_attribute_share=0.0, recap=False, questions_per_chunk=0, hard=False,
            near_two_hop=False):
    """Sequences with one chunk count, so they are of about one length and padding wastes little."""
    chunk_count = rng.randint(STAGES[stage].fewest, STAGES[stage].most)
    batch, longest = [], 0
    while True:
        sequence = training_sequence(rng, vocab, tokenizer, stage, chunk_count, one_attribute_share, recap, questions_per_chunk,
                                     hard, near_two_hop)
        longest_next = max(longest, len(sequence[0]))
        if batch and longest_next * (len(batch) + 1) > token_budget:
            return batch
        batch.append(sequence)
        longest = longest_next


def parallel_questions(batch, width):
    """Positions and a mask by which each question (with its answer) sees the context and itself,
    not the questions before it: answered questions would otherwise let the model answer by
    elimination among the values not yet given, which it learns long before binding."""
    positions = torch.zeros((len(batch), width), dtype=torch.long)
    allowed = torch.zeros((len(batch), width, width), dtype=torch.bool)
    causal = torch.ones((width, width), dtype=torch.bool).tril()
    for i, (sequence, _, _, _, context_end, segments) in enumerate(batch):
        segment = torch.full((width,), -1, dtype=torch.long)  # -1: padding
        segment[:context_end] = 0
        positions[i, :context_end] = torch.arange(context_end)
        for j, (start, end) in enumerate(segments):
            segment[start:end] = j + 1
            positions[i, start:end] = torch.arange(context_end, context_end + end - start)
        same = segment[:, None] == segment[None, :]
        sees = (segment[None, :] == 0) | same
        allowed[i] = causal & sees & (segment[None, :] >= 0)
        allowed[i] |= torch.eye(width, dtype=torch.bool)  # padding rows see themselves (no empty softmax)
    mask = torch.zeros((len(batch), 1, width, width)).masked_fill(~allowed[:, None], float("-inf"))
    return positions, mask


def step_loss(model, batch, pad_id, lm_weight=0.0, parallel=False, device="cpu"):
    width = max(len(s[0]) for s in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    rows, cols, targets = [], [], []
    for i, (sequence, positions, answer) in enumerate(s[:3] for s in batch):
        ids[i, :len(sequence)] = torch.tensor(sequence)
        rows += [i] * len(positions)
        cols += positions
        targets += answer
    positions, mask = parallel_questions(batch, width) if parallel else (None, None)
    ids = ids.to(device)
    if parallel:
        positions, mask = positions.to(device), mask.to(device)
    hidden, _ = model.hidden_states(ids, positions=positions, mask=mask)
    logits = model.logits_at(hidden[rows, cols])
    targets = torch.tensor(targets, device=device)
    loss = F.cross_entropy(logits, targets)
    if lm_weight > 0:
        # Next-token loss over every real token: the template words, the questions and the pronouns
        # are predictable, and predicting them forms the previous-token and copying heads the lookup is built from.
        next_ids = ids[:, 1:]
        keep = next_ids != pad_id
        lm_logits = model.logits_at(hidden[:, :-1][keep])
        loss = loss + lm_weight * F.cross_entropy(lm_logits, next_ids[keep])
    return loss, (logits.argmax(-1) == targets)


def learning_rate(step, total, peak, warmup=200, warm_from=0):
    """Flat after a linear warm-up, then a cosine decay to a tenth over the last quarter of the schedule.
    warm_from is the step a fresh optimizer began at (0, or --start-step): its moments start empty there."""
    decay_from = int(total * 0.75)
    if step < decay_from:
        rate = peak
    else:
        progress = (step - decay_from) / max(1, total - decay_from)
        rate = peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
    return rate * min(1.0, (step - warm_from + 1) / warmup)


def save_model(model, tokenizer, directory):
    os.makedirs(directory, exist_ok=True)
    end, pad = tokenizer.special[corpus.END_TOKEN], tokenizer.special[corpus.PAD_TOKEN]
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(model.c.to_hf(bos_id=None, eos_id=end, pad_id=pad), f, indent=2)
    with open(os.path.join(directory, "generation_config.json"), "w") as f:
        json.dump({"eos_token_id": end, "pad_token_id": pad, "do_sample": False, "max_new_tokens": 8}, f, indent=2)
    with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
        json.dump(layout.tokenizer_config(), f, indent=2)
    tokenizer.save(os.path.join(directory, "tokenizer.json"))
    save_safetensors(model.hf_state(), os.path.join(directory, "model.safetensors"))


def start_from_model(model, tokenizer, directory, step, device):
    """Loads a model directory's weights into the model being trained; returns the training state to go on from.
    The directory's training.json (the earlier run's figures), where it has one, is kept for the report."""
    from evaluate import load
    if not os.path.isfile(os.path.join(directory, "model.safetensors")):
        sys.exit(f"--init-from {directory}: no model.safetensors there (a model directory, as finish.py or train.py writes it)")
    if step <= 0:
        sys.exit(f"--init-from {directory}: --start-step must name the step its weights were saved at (a positive number)")
    saved, saved_tokenizer = load(directory)
    if saved.c.__dict__ != model.c.__dict__:
        sys.exit(f"--init-from {directory}: its config {saved.c.__dict__} is not this run's {model.c.__dict__}")
    if saved_tokenizer.size != tokenizer.size:
        sys.exit(f"--init-from {directory}: its tokenizer has {saved_tokenizer.size} tokens, this run's {tokenizer.size}")
    model.load_state_dict({name: t.to(device) for name, t in saved.state_dict().items()})
    earlier = None
    report = os.path.join(directory, "training.json")
    if os.path.exists(report):
        with open(report) as f:
            earlier = json.load(f)
        if earlier.get("steps") != step:
            sys.exit(f"--init-from {directory}: its training.json says {earlier.get('steps')} steps, --start-step says {step}")
    return {"step": step, "stage": 0, "elapsed": 0.0, "log": [], "warm_from": step, "earlier": earlier}


def world_sizes(text):
    """--warm-up-world's value: people counts, comma-separated ("24" or "24,96")."""
    try:
        sizes = [int(n) for n in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected people counts such as 24 or 24,96, got {text!r}") from None
    if any(n < 2 for n in sizes):
        raise argparse.ArgumentTypeError(f"a world needs at least 2 people, got {text!r}")
    return sizes


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", required=True, help="checkpoint and log folder (resumed from when it holds a checkpoint)")
    parser.add_argument("--out", required=True, help="the model directory to write at the end")
    parser.add_argument("--steps", type=int, default=3000, help="total steps; the learning-rate schedule spans them")
    parser.add_argument("--stop-after", type=int, default=0, help="stop (checkpointed) at this step, schedule unchanged")
    parser.add_argument("--minutes", type=float, default=0,
                        help="stop (checkpointed) after this many minutes of this run, schedule unchanged (for a lent machine's time)")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--kv-heads", type=int, default=2)
    parser.add_argument("--intermediate", type=int, default=768)
    parser.add_argument("--lr", type=float, default=1.5e-3)
    parser.add_argument("--token-budget", type=int, default=6144, help="padded tokens per batch")
    parser.add_argument("--lm-weight", type=float, default=0.0, help="weight of a next-token loss over every token, beside the answer loss")
    parser.add_argument("--one-attribute-share", type=float, default=0.0,
                        help="share of warm-up worlds whose facts are all of one attribute (no right-kind shortcut)")
    parser.add_argument("--parallel-questions", action="store_true",
                        help="each question sees the context and itself only, not the questions answered before it")
    parser.add_argument("--questions-per-chunk", type=int, default=0,
                        help="with --parallel-questions: ask up to this many questions a chunk (at least 8 a context)")
    parser.add_argument("--hard", action="store_true",
                        help="the full task with its hard kinds too: pronouns mid-chunk and two-hop questions (corpus.py)")
    parser.add_argument("--near-two-hop", action="store_true",
                        help="with --hard: half the single-chunk questions become two-hop ones inside one chunk (denser "
                             "supervision of the two-hop lookup; training only)")
    parser.add_argument("--recap", action="store_true", help="warm-up worlds restate every fact after the notes, each value a target")
    parser.add_argument("--init", choices=["fan-in", "gpt2"], default="fan-in",
                        help="weight scale at the start (gpt2: std 0.02 everywhere, what the first checkpoint's runs used)")
    parser.add_argument("--warm-up-world", type=world_sizes, default=[],
                        help="first stages of direct facts in worlds of these many people, in turn (24 or 24,96; none by default)")
    parser.add_argument("--warm-up-pairs", action="store_true",
                        help="with --warm-up-world: first a stage of two facts of one attribute in that world")
    parser.add_argument("--from-stage", type=int, default=0,
                        help="go on at this stage at least (skipping the stages before it on resume)")
    parser.add_argument("--init-from", metavar="MODEL_DIR",
                        help="with no checkpoint in --work: start from this model directory's weights (a fresh optimizer, "
                             "warmed up again) at --start-step, so a committed model trains on when its checkpoint is gone")
    parser.add_argument("--start-step", type=int, default=0, help="with --init-from: the step those weights were saved at")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu",
                        help="cpu, cuda, or auto (cuda when there is one); checkpoints resume on either")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--checkpoint-minutes", type=float, default=5)
    args = parser.parse_args()

    global STAGES
    STAGES = warm_up_stages(args.warm_up_world, args.warm_up_pairs) + BASE_STAGES
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.work, exist_ok=True)
    vocab = corpus.Vocabulary()
    tokenizer = build_tokenizer(vocab)
    config = Config(tokenizer.size, args.hidden, args.layers, args.heads, args.kv_heads, args.intermediate)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    model = Llama(config, args.init).to(device)
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2 or "embed" in n]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=args.lr, betas=(0.9, 0.95))
    rng = random.Random(args.seed)
    state = {"step": 0, "stage": 0, "elapsed": 0.0, "log": []}
    checkpoint = os.path.join(args.work, "checkpoint.pt")
    if os.path.exists(checkpoint):
        saved = torch.load(checkpoint, map_location=device, weights_only=False)  # it holds the data rng too
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        rng.setstate(saved["rng"])
        torch.set_rng_state(saved["torch_rng"].cpu())
        state = saved["state"]
        print(f"resumed at step {state['step']} (stage {state['stage']})", flush=True)
    elif args.start_step and not args.init_from:
        sys.exit("--start-step goes with --init-from")
    elif args.init_from:
        state = start_from_model(model, tokenizer, args.init_from, args.start_step, device)
        rng = random.Random(args.seed + args.start_step)  # not the data the earlier steps saw
        print(f"started from {args.init_from} at step {state['step']}", flush=True)
    if args.from_stage > state["stage"]:
        state["stage"] = min(args.from_stage, len(STAGES) - 1)
        print(f"from stage {state['stage']} {STAGES[state['stage']]}", flush=True)
    params = sum(p.numel() for p in model.parameters())
    print(f"vocabulary {tokenizer.size}, parameters {params / 1e6:.2f} M, config {vars(config)}, on {device}", flush=True)

    recent = []
    started, last_save = time.time(), time.time()
    run_started = started
    last = min(args.steps, args.stop_after or args.steps)
    while state["step"] < last:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(state["step"], args.steps, args.lr, warm_from=state.get("warm_from", 0))
        batch = batches(rng, vocab, tokenizer, state["stage"], args.token_budget, args.one_attribute_share, args.recap,
                        args.questions_per_chunk if args.parallel_questions else 0, args.hard, args.near_two_hop)
        loss, correct = step_loss(model, batch, tokenizer.special[corpus.PAD_TOKEN], args.lm_weight, args.parallel_questions, device)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        kinds = [k for s in batch for k in s[3]]
        by_kind = collections.defaultdict(list)
        for right, kind in zip(correct.tolist(), kinds):
            by_kind[kind].append(right)
        cross, single, recaps = by_kind["cross"], by_kind["single"], by_kind["recap"]
        answered = [c for kind, rights in by_kind.items() if kind not in ("end", "recap") for c in rights]
        recent.append(sum(answered) / max(1, len(answered)))
        recent = recent[-50:]
        state["step"] += 1
        elapsed = state["elapsed"] + time.time() - started
        entry = {"step": state["step"], "minutes": round(elapsed / 60, 2), "stage": state["stage"], "loss": round(loss.item(), 4),
                 "single": round(sum(single) / max(1, len(single)), 3), "cross": round(sum(cross) / max(1, len(cross)), 3),
                 "recap": round(sum(recaps) / max(1, len(recaps)), 3),
                 **{kind: round(sum(by_kind[kind]) / max(1, len(by_kind[kind])), 3) for kind in ("mid", "twohop", "near") if by_kind[kind]},
                 "tokens": sum(len(s[0]) for s in batch)}
        state["log"].append(entry)
        if state["step"] % 10 == 0:
            print(json.dumps(entry), flush=True)
        if len(recent) == 50 and sum(recent) / 50 >= ADVANCE_AT and state["stage"] < len(STAGES) - 1:
            state["stage"] += 1
            recent = []
            print(f"step {state['step']}: stage {state['stage']} {STAGES[state['stage']]}", flush=True)
        out_of_time = args.minutes > 0 and time.time() - run_started > args.minutes * 60
        if out_of_time:
            last = state["step"]
        if time.time() - last_save > args.checkpoint_minutes * 60 or state["step"] == last:
            state["elapsed"] = elapsed
            started = time.time()
            saved = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "rng": rng.getstate(),
                     "torch_rng": torch.get_rng_state(), "state": state, "args": vars(args)}
            torch.save(saved, checkpoint + ".tmp")
            os.replace(checkpoint + ".tmp", checkpoint)
            save_model(model, tokenizer, os.path.join(args.work, "latest-model"))
            last_save = time.time()
    if last < args.steps:
        print(f"stopped after step {last}; run again to go on", flush=True)
        return
    with open(os.path.join(args.work, "train_log.jsonl"), "w") as f:
        for entry in state["log"]:
            f.write(json.dumps(entry) + "\n")
    if os.path.exists(args.out):
        shutil.rmtree(args.out)
    save_model(model, tokenizer, args.out)
    print(f"done: {state['step']} steps in {state['elapsed'] / 60:.1f} minutes; model in {args.out}", flush=True)


if __name__ == "__main__":
    main()
