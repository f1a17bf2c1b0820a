"""The prompt layout, the same for training and for inference (the engine states it once too):

    tok(prefix) ++ tok(chunk_1 + separator) ++ ... ++ tok(chunk_m + separator) ++ tok(question template)

each piece tokenized on its own, so a chunk is the same tokens wherever it appears. The answer
follows as tok(" " + answer) and the end token.
"""
import json

import corpus


def pieces(tokenizer, prefix, chunks, question):
    """Token ids of the prefix, of each chunk with its separator, and of the question template."""
    return (tokenizer.encode(prefix),
            [tokenizer.encode(chunk + corpus.SEPARATOR) for chunk in chunks],
            tokenizer.encode(corpus.QUESTION_TEMPLATE.format(question=question)))


def answer_ids(tokenizer, answer):
    return tokenizer.encode(" " + answer) + [tokenizer.special[corpus.END_TOKEN]]


def tokenizer_config():
    """tokenizer_config.json: the layout's pieces where a chat template would be, for any model's layout code."""
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "eos_token": corpus.END_TOKEN, "pad_token": corpus.PAD_TOKEN, "bos_token": None,
        "add_bos_token": False, "add_eos_token": False, "model_max_length": 4096,
        "chunkkv_layout": {
            "prefix": corpus.PREFIX,
            "chunk_separator": corpus.SEPARATOR,
            "question_template": corpus.QUESTION_TEMPLATE,
            "answer_prefix": " ",
        },
    }


def write_jsonl(path, records):
    with open(path, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
