#!/usr/bin/env python3
"""Writes tests/fixtures/hotpotqa/dev-300.jsonl.gz: the development set of the retrieval tests.

Source: a 300-question sample of HotpotQA's distractor dev set (hotpot_dev_distractor_v1, all
"hard"), as committed in the public repository megagonlabs/RPT (data/hotpotqa/dev.jsonl at commit
cf2bc1b1b4edd0318b84179e732ec476c4e20a6e), in Hugging Face's layout. HotpotQA is CC BY-SA 4.0
(Yang et al., EMNLP 2018). Each record keeps its id, question, answer, type, the titles of its
supporting paragraphs, and its ten paragraphs as {title, text}; nothing else is changed.

Usage: make_hotpotqa_dev.py SOURCE.jsonl OUT.jsonl.gz
"""
import gzip
import json
import sys


def main(source, target):
    records = []
    with open(source, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            context = row["context"]
            paragraphs = [{"title": title, "text": "".join(sentences)}
                          for title, sentences in zip(context["title"], context["sentences"])]
            records.append({
                "id": row["id"],
                "question": row["question"],
                "answer": row["answer"],
                "type": row["type"],
                "supporting": sorted(set(row["supporting_facts"]["title"])),
                "paragraphs": paragraphs,
            })
    with gzip.open(target, "wt", encoding="utf-8", compresslevel=9) as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
    print(f"{len(records)} questions, {sum(len(r['paragraphs']) for r in records)} paragraphs -> {target}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
