"""The synthetic multi-chunk QA task the fixture model is trained and evaluated on.

Every example is a fresh random world: people are given a birthplace, an employer and an
instrument by sentences spread over chunks, so nothing can be memorised; the answer must be read
from the context. Facts are stated three ways:

- directly ("Brenna was born in Velmora."),
- by the pronoun "They" resolved inside the same chunk ("Later we met Tovik. They play the harp."),
- by "They" at the start of a chunk, resolved by the last person named in the previous chunk.

The first two are single-chunk questions. The third is a cross-chunk question: with each chunk's
KV computed alone, the pronoun has no antecedent, so the fact is no longer tied to the person.

The hard task (`hard=True`, the heldout-hard set) adds two kinds whose dependency does not sit at
a chunk's opening, where recomputing a chunk's first tokens would repair it:
- "mid": the next chunk opens on sentences that name nobody, and only then says "They ...", so
  the pronoun, still meaning the last person named, sits 18-40 tokens into the chunk;
- "twohop": a person's two facts sit in two chunks, joined by that pronoun, and the question
  names the person by one of them ("Where was the one who plays the lute born?"); the key value
  belongs to nobody else in the world.
"They" means the last person named, everywhere, so the model must resolve it by recency. Fillers
name places, organisations and instruments without a person, and some people are named with no
fact, so an answer cannot be found by elimination.
"""
import collections
import random

SYLLABLES_A = ["bra", "to", "ke", "mi", "sa", "lo", "ve", "ri", "da", "no", "fe", "zu", "ha", "pe", "go", "wi", "ja", "cu", "ty", "ro"]
SYLLABLES_B = ["vik", "nna", "mar", "len", "dor", "sha", "ric", "tha", "bel", "ndo", "rin", "lla", "vos", "ska", "mon", "dra", "lix", "tte", "bur", "ko"]
INSTRUMENTS = ["flute", "harp", "cello", "drum", "oboe", "lute", "violin", "piano", "banjo", "tuba", "horn", "sitar",
               "viola", "zither", "organ", "trumpet", "clarinet", "bassoon", "fiddle", "guitar", "mandolin", "accordion", "bagpipe", "ukulele"]
PLACE_ENDINGS = ["ford", "moor", "vale", "haven", "wick", "holm", "gate", "stead"]
ORG_ENDINGS = ["corp", "works", "labs", "tronix", "soft", "gen"]

PREFIX = "Answer the question from the notes below.\n\n"
SEPARATOR = "\n\n"
QUESTION_TEMPLATE = "Question: {question}\nAnswer:"
END_TOKEN = "<|end|>"
PAD_TOKEN = "<|pad|>"

ATTRIBUTES = {
    "born": {"direct": "{name} was born in {value}.", "pronoun": "They were born in {value}.", "question": "Where was {name} born?"},
    "work": {"direct": "{name} works at {value}.", "pronoun": "They work at {value}.", "question": "Where does {name} work?"},
    "play": {"direct": "{name} plays the {value}.", "pronoun": "They play the {value}.", "question": "What does {name} play?"},
}
INTRODUCTIONS = ["Later we met {name}.", "The next guest was {name}.", "Everyone waited for {name}.",
                 "The letter was signed by {name}.", "A new member joined, {name}.", "The last speaker was {name}."]
FILLERS = ["The road to {place} was closed for a week.", "{org} hired many people that year.",
           "The {instrument} sounded loud in the hall.", "It rained all morning.", "The meeting ran late again.",
           "Nobody could find the keys.", "The train to {place} was on time.", "{org} moved to a larger office.",
           "A shop in {place} sold an old {instrument}.", "The report was printed twice.", "Lunch was served at noon.",
           "The museum in {place} opened a new wing.", "Tickets for the concert sold out.", "{org} bought a company in {place}."]


OPENING_FILLERS = [f for f in FILLERS if "{" not in f.split()[0]]


def _names(rng, count, endings=None):
    names = set()
    while len(names) < count:
        word = rng.choice(SYLLABLES_A) + rng.choice(SYLLABLES_B)
        if endings is not None:
            word += rng.choice(endings)
        elif rng.random() < 0.3:
            word = rng.choice(SYLLABLES_A) + word
        names.add(word.capitalize())
    return sorted(names)


class Vocabulary:
    """The closed world of names: fixed, so the tokenizer knows every word; facts are per example."""

    def __init__(self, seed=1234):
        rng = random.Random(seed)
        self.people = _names(rng, 360)
        self.places = [p for p in _names(rng, 64, PLACE_ENDINGS) if p not in self.people]
        self.orgs = [o for o in _names(rng, 48, ORG_ENDINGS) if o not in self.people and o not in self.places]
        self.instruments = INSTRUMENTS

    def small(self, people):
        """The first `people` people and half as many values of each kind: a small world to learn lookup in."""
        world = Vocabulary.__new__(Vocabulary)
        world.people = self.people[:people]
        world.places, world.orgs, world.instruments = (v[:people // 2] for v in (self.places, self.orgs, self.instruments))
        return world

    def values(self, attribute):
        return {"born": self.places, "work": self.orgs, "play": self.instruments}[attribute]


class Example:
    def __init__(self, chunks, questions, facts=(), near_two_hop=()):
        self.chunks = chunks          # list of chunk texts
        self.questions = questions    # list of (kind, question, answer)
        self.facts = list(facts)      # (kind, name, attribute, value), for the warm-up's recaps
        self.near_two_hop = list(near_two_hop)  # training only: two-hop questions inside one chunk


def _filler(rng, vocab, choices=FILLERS):
    return rng.choice(choices).format(place=rng.choice(vocab.places), org=rng.choice(vocab.orgs),
                                      instrument=rng.choice(vocab.instruments))


def make_direct_example(rng, vocab, chunk_count, chunk_words, tokens_of, one_attribute_share=0.0, facts_per_chunk=None):
    """The warm-up world: direct facts only ("Brenna was born in Velmora."), no pronouns, no fillers.

    With probability `one_attribute_share` every fact is of one attribute, so a value of the asked
    kind is no longer a shortcut to most answers: only binding the value to its person is rewarded.
    With `facts_per_chunk`, each chunk opens on a sentence that names no value and holds exactly
    that many facts (the smallest lookup: two facts, nothing else to confuse them with).
    """
    people = rng.sample(vocab.people, min(len(vocab.people), 14 * chunk_count + 8))
    facts, chunks = [], []
    attribute = rng.choice(list(ATTRIBUTES)) if rng.random() < one_attribute_share else None
    for _ in range(chunk_count):
        if facts_per_chunk is not None:
            opening = rng.choice([f for f in OPENING_FILLERS if "{" not in f])
            chunks.append(" ".join([opening] + [_direct(rng, vocab, people.pop(), facts, attribute) for _ in range(facts_per_chunk)]))
            continue
        sentences = [_filler(rng, vocab, OPENING_FILLERS)]
        length = tokens_of(sentences[0])
        while length < chunk_words:
            sentence = _direct(rng, vocab, people.pop(), facts, attribute)
            sentences.append(sentence)
            length += tokens_of(sentence)
        chunks.append(" ".join(sentences))
    return Example(chunks, [(kind, ATTRIBUTES[a]["question"].format(name=n), v) for kind, n, a, v in facts], facts)


def recap_stem(name, attribute):
    """A fact's direct sentence up to its value: "Brenna was born in" (the value follows)."""
    return ATTRIBUTES[attribute]["direct"].split("{value}")[0].format(name=name).rstrip()


def make_example(rng, vocab, chunk_count, chunk_words, tokens_of, hard=False):
    """One world: `chunk_count` chunks of about `chunk_words` tokens (counted with `tokens_of`).
    With `hard`, carried facts may sit mid-chunk ("mid") and two-hop questions are asked; without
    it the random draws are the ones the held-apart sets were written with."""
    people = rng.sample(vocab.people, min(len(vocab.people), 14 * chunk_count + 8))
    facts = []  # (kind, name, attribute, value)
    links = []  # (direct fact, pronoun facts) of one carried person, a chunk apart
    chunks = []
    carried = None  # the person whose facts continue at the start of the next chunk
    carried_attribute = None  # the attribute the chunk before stated of them directly, if it did
    for index in range(chunk_count):
        sentences = []
        length = 0
        if carried is not None:
            kind = "cross"
            if hard and rng.random() < 0.5:
                # Sentences naming nobody first: "They" still means the carried person, further in.
                kind, target = "mid", rng.randint(18, 40)
                sentences.append(_filler(rng, vocab, OPENING_FILLERS))
                while sum(tokens_of(s) for s in sentences) < target:
                    sentences.append(_filler(rng, vocab))
            # Never the attribute already stated: two values of one fact would make either answer wrong.
            open_attributes = [a for a in ATTRIBUTES if a != carried_attribute]
            stated = len(facts)
            for attribute in rng.sample(open_attributes, rng.randint(1, min(2, len(open_attributes)))):
                value = rng.choice(vocab.values(attribute))
                sentences.append(ATTRIBUTES[attribute]["pronoun"].format(value=value))
                facts.append((kind, carried, attribute, value))
            if carried_attribute is not None:
                links.append((carried_direct, facts[stated:]))
            carried, carried_attribute = None, None
        else:
            # A chunk never opens on a name: "Brenna" there would be another token than " Brenna"
            # in the question, and the lookup is by token.
            sentences.append(rng.choice(INTRODUCTIONS).format(name=people.pop()) if rng.random() < 0.5
                             else _filler(rng, vocab, OPENING_FILLERS))
        length = sum(tokens_of(s) for s in sentences)
        last = index == chunk_count - 1
        while True:
            stated = len(facts)
            block = _block(rng, vocab, people.pop(), facts)
            block_length = sum(tokens_of(s) for s in block)
            if length + block_length > chunk_words and sentences:
                del facts[stated:]  # the block is not written, so nothing in it may be asked
                break
            sentences.extend(block)
            length += block_length
            if rng.random() < 0.5:
                filler = _filler(rng, vocab)
                sentences.append(filler)
                length += tokens_of(filler)
        if not last and rng.random() < 0.8:
            # End the chunk on a person whose facts the next chunk states by pronoun.
            carried = people.pop()
            if rng.random() < 0.6:
                sentences.append(rng.choice(INTRODUCTIONS).format(name=carried))
            else:
                sentences.append(_direct(rng, vocab, carried, facts))
                carried_attribute, carried_direct = facts[-1][2], facts[-1]
        chunks.append(" ".join(sentences))
    questions = [(kind, ATTRIBUTES[attribute]["question"].format(name=name), value) for kind, name, attribute, value in facts]
    if hard:
        questions += _two_hop_questions(facts, links)
    return Example(chunks, questions, near_two_hop=_near_two_hop_questions(facts) if hard else ())


KEY_DESCRIPTIONS = {"born": "the one born in {value}", "work": "the one who works at {value}",
                    "play": "the one who plays the {value}"}


def _two_hop_questions(facts, links):
    """Each carried person's direct fact and pronoun facts, a chunk apart, asked one by way of the
    other, both ways; only where the key value is nobody else's (else the question has two answers)."""
    owners = collections.Counter((attribute, value) for _, _, attribute, value in facts)
    questions = []
    for direct, pronouns in links:
        for key, target in [(direct, p) for p in pronouns] + [(p, direct) for p in pronouns]:
            if owners[(key[2], key[3])] == 1:
                who = KEY_DESCRIPTIONS[key[2]].format(value=key[3])
                questions.append(("twohop", ATTRIBUTES[target[2]]["question"].format(name=who), target[3]))
    return questions


def _near_two_hop_questions(facts):
    """Two-hop questions whose two facts sit in one person's block, inside one chunk ("near").
    Training only, never in a held-apart set: they exercise the lookup a two-hop question needs
    (key value, then that person's other fact) several times a world, where a world has only one
    or two cross-chunk links. No random draw, so the held-apart sets regenerate unchanged."""
    owners = collections.Counter((attribute, value) for _, _, attribute, value in facts)
    by_person = collections.defaultdict(list)
    for fact in facts:
        if fact[0] == "single":  # a person's single facts come from one block, in one chunk
            by_person[fact[1]].append(fact)
    questions = []
    for person_facts in by_person.values():
        for key in person_facts:
            for target in person_facts:
                if key is not target and owners[(key[2], key[3])] == 1:
                    who = KEY_DESCRIPTIONS[key[2]].format(value=key[3])
                    questions.append(("near", ATTRIBUTES[target[2]]["question"].format(name=who), target[3]))
    return questions


def _direct(rng, vocab, name, facts, attribute=None):
    attribute = attribute or rng.choice(list(ATTRIBUTES))
    value = rng.choice(vocab.values(attribute))
    facts.append(("single", name, attribute, value))
    return ATTRIBUTES[attribute]["direct"].format(name=name, value=value)


def _block(rng, vocab, name, facts):
    """A person's sentences inside one chunk: a direct fact or an introduction, then pronoun facts."""
    roll = rng.random()
    if roll < 0.15:
        return [rng.choice(INTRODUCTIONS).format(name=name)]  # named, but no fact: blocks elimination
    attributes = rng.sample(list(ATTRIBUTES), rng.randint(1, 3))
    sentences = []
    if roll < 0.55:
        first = attributes.pop(0)
        value = rng.choice(vocab.values(first))
        facts.append(("single", name, first, value))
        sentences.append(ATTRIBUTES[first]["direct"].format(name=name, value=value))
    else:
        sentences.append(rng.choice(INTRODUCTIONS).format(name=name))
    for attribute in attributes:
        value = rng.choice(vocab.values(attribute))
        facts.append(("single", name, attribute, value))
        sentences.append(ATTRIBUTES[attribute]["pronoun"].format(value=value))
    return sentences


def all_sentences_for_tokenizer(vocab):
    """Text that holds every word the task can write, for training the tokenizer."""
    rng = random.Random(7)
    lines = [PREFIX, SEPARATOR, QUESTION_TEMPLATE, "Answer:"]
    for name in vocab.people + vocab.places + vocab.orgs + vocab.instruments:
        lines += [f"{name} was born in {name}. They play the {name}. ", f"Where does {name} work?"]
    for template in INTRODUCTIONS + FILLERS:
        for _ in range(20):
            lines.append(template.format(name=rng.choice(vocab.people), place=rng.choice(vocab.places),
                                         org=rng.choice(vocab.orgs), instrument=rng.choice(vocab.instruments)))
    for spec in ATTRIBUTES.values():
        for _ in range(20):
            lines.append(spec["pronoun"].format(value=rng.choice(vocab.places)) + " " + spec["question"].format(name="X"))
    return lines
