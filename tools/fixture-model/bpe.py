"""A byte-level BPE tokenizer trained on the task's text, written as a Hugging Face tokenizer.json.

GPT-2's scheme: text is split by the GPT-2 pattern, each piece's UTF-8 bytes are mapped to printable
characters, and the most frequent adjacent pair is merged until every word of the task is one
token (the task's world is closed, so the vocabulary stays small). The same file loads in the
engine and in Hugging Face's `tokenizers`; `encode` here is what the trainer uses, and the engine's
encoding of the evaluation prompts is checked against it by a test.
"""
import collections
import json
import re

# GPT-2's pre-tokenization pattern with \p{L} / \p{N} narrowed to ASCII: the task writes ASCII only,
# where the two agree. tokenizer.json keeps ByteLevel's own (Unicode) pattern.
_PIECES = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+")


def _bytes_to_unicode():
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    codes = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(printable, codes)}


BYTE_CHARS = _bytes_to_unicode()


def _pieces(text):
    return ["".join(BYTE_CHARS[b] for b in piece.encode("utf-8")) for piece in _PIECES.findall(text)]


class Tokenizer:
    def __init__(self, vocab, merges, special):
        self.vocab = vocab
        self.merges = merges
        self.special = special  # content -> id
        self.ranks = {pair: rank for rank, pair in enumerate(merges)}
        self.ids_to_tokens = {i: t for t, i in vocab.items()}
        self.ids_to_tokens.update({i: t for t, i in special.items()})
        self._cache = {}

    @staticmethod
    def train(lines, special_tokens):
        words = collections.Counter(piece for line in lines for piece in _pieces(line))
        symbols = {word: list(word) for word in words}
        vocab = {BYTE_CHARS[b]: i for i, b in enumerate(sorted(BYTE_CHARS))}
        merges = []
        while True:
            pairs = collections.Counter()
            for word, count in words.items():
                parts = symbols[word]
                for a, b in zip(parts, parts[1:]):
                    pairs[(a, b)] += count
            if not pairs:
                break
            best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
            merges.append(best)
            merged = best[0] + best[1]
            vocab.setdefault(merged, len(vocab))
            for word in words:
                parts = symbols[word]
                i = 0
                while i < len(parts) - 1:
                    if parts[i] == best[0] and parts[i + 1] == best[1]:
                        parts[i:i + 2] = [merged]
                    i += 1
        special = {token: len(vocab) + i for i, token in enumerate(special_tokens)}
        return Tokenizer(vocab, merges, special)

    def _encode_piece(self, piece):
        cached = self._cache.get(piece)
        if cached is not None:
            return cached
        parts = list(piece)
        while len(parts) > 1:
            ranked = [(self.ranks.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))]
            rank, i = min(ranked)
            if rank == 1 << 30:
                break
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
        ids = [self.vocab[p] for p in parts]
        self._cache[piece] = ids
        return ids

    def encode(self, text):
        ids = []
        for segment in re.split("(" + "|".join(re.escape(s) for s in self.special) + ")", text) if self.special else [text]:
            if segment in self.special:
                ids.append(self.special[segment])
            elif segment:
                for piece in _pieces(segment):
                    ids.extend(self._encode_piece(piece))
        return ids

    def decode(self, ids):
        unicode_to_byte = {c: b for b, c in BYTE_CHARS.items()}
        out = bytearray()
        for i in ids:
            token = self.ids_to_tokens[i]
            if token in self.special:
                out.extend(token.encode())
            else:
                out.extend(unicode_to_byte[c] for c in token)
        return out.decode("utf-8", errors="replace")

    @property
    def size(self):
        return len(self.vocab) + len(self.special)

    def save(self, path):
        document = {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                              "normalized": False, "special": True} for t, i in self.special.items()],
            "normalizer": None,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
            "post_processor": None,
            "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                      "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                      "vocab": self.vocab, "merges": [[a, b] for a, b in self.merges]},
        }
        with open(path, "w", encoding="utf-8") as f:
            json.dump(document, f, ensure_ascii=False)

    @staticmethod
    def load(path):
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
        model = document["model"]
        special = {t["content"]: t["id"] for t in document["added_tokens"]}
        return Tokenizer(model["vocab"], [tuple(m) for m in model["merges"]], special)
