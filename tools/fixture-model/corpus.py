"""The synthetic multi-chunk QA task the fixture model is trained and evaluated on.

Every example is a fresh random world of people, of whom some hold a role (cook, pilot, judge, ...),
each role at most once, so nothing can be memorised: "Who is the pilot?" must be read from the
context. A role is stated three ways:

- directly ("Brenna is the pilot."),
- by the pronoun "They" resolved inside the same chunk ("Later we met Tovik. They are the judge."),
- by "They" at the start of a chunk, resolved by the last person named in the previous chunk.

The first two are single-chunk questions. The third is a cross-chunk question: with each chunk's
KV computed alone, the pronoun has no antecedent, so the role is no longer tied to the person.
"They" means the last person named, everywhere, so the model must resolve it by recency. People
without a role, and their birthplaces, employers and instruments (never asked), fill the chunks,
so an answer cannot be found by elimination or by taking the nearest name.
"""
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
ROLES = ["cook", "driver", "treasurer", "gardener", "pilot", "doctor", "teacher", "judge", "tailor", "baker", "painter", "guard",
         "nurse", "clerk", "miner", "sailor"]
ROLE = {"direct": "{name} is the {role}.", "pronoun": "They are the {role}.", "question": "Who is the {role}?"}
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

    def values(self, attribute):
        return {"born": self.places, "work": self.orgs, "play": self.instruments}[attribute]


class Example:
    def __init__(self, chunks, questions):
        self.chunks = chunks          # list of chunk texts
        self.questions = questions    # list of (kind, question, answer)


def _filler(rng, vocab, choices=FILLERS):
    return rng.choice(choices).format(place=rng.choice(vocab.places), org=rng.choice(vocab.orgs),
                                      instrument=rng.choice(vocab.instruments))


def make_example(rng, vocab, chunk_count, chunk_words, tokens_of):
    """One world: `chunk_count` chunks of about `chunk_words` tokens (counted with `tokens_of`)."""
    people = rng.sample(vocab.people, min(len(vocab.people), 14 * chunk_count + 8))
    roles = rng.sample(ROLES, len(ROLES))
    facts = []  # (kind, role, name)
    chunks = []
    carried = None  # the person whose role the next chunk states by pronoun
    role_chance = min(0.6, max(0.2, len(ROLES) / (6 * chunk_count + 1)))
    for index in range(chunk_count):
        if carried is not None:
            role = roles.pop()
            sentences = [ROLE["pronoun"].format(role=role)]
            facts.append(("cross", role, carried))
            if rng.random() < 0.5:
                sentences.append(_attribute(rng, vocab, None))
            carried = None
        else:
            # A chunk never opens on a name: "Brenna" there would be another token than " Brenna".
            sentences = [rng.choice(INTRODUCTIONS).format(name=people.pop()) if rng.random() < 0.5
                         else _filler(rng, vocab, OPENING_FILLERS)]
        length = sum(tokens_of(s) for s in sentences)
        while True:
            block = _block(rng, vocab, people.pop(), roles if rng.random() < role_chance else [], facts)
            block_length = sum(tokens_of(s) for s in block)
            if length + block_length > chunk_words and len(sentences) > 1:
                break
            sentences.extend(block)
            length += block_length
            if rng.random() < 0.4:
                filler = _filler(rng, vocab)
                sentences.append(filler)
                length += tokens_of(filler)
        if index < chunk_count - 1 and roles and rng.random() < 0.8:
            # End the chunk on a person whose role the next chunk states by pronoun.
            carried = people.pop()
            sentences.append(rng.choice(INTRODUCTIONS).format(name=carried) if rng.random() < 0.6
                             else _attribute(rng, vocab, carried))
        chunks.append(" ".join(sentences))
    questions = [(kind, ROLE["question"].format(role=role), name) for kind, role, name in facts]
    return Example(chunks, questions)


def _attribute(rng, vocab, name):
    """A fact that is never asked: a person's (or, with no name, the last-named person's) birthplace, employer or instrument."""
    attribute = rng.choice(list(ATTRIBUTES))
    value = rng.choice(vocab.values(attribute))
    template = ATTRIBUTES[attribute]["pronoun" if name is None else "direct"]
    return template.format(name=name, value=value)


def _block(rng, vocab, name, roles, facts):
    """A person's sentences inside one chunk: named directly or introduced, maybe given a role from `roles`."""
    if roles:
        role = roles.pop()
        facts.append(("single", role, name))
        if rng.random() < 0.5:
            sentences = [ROLE["direct"].format(name=name, role=role)]
        else:
            sentences = [rng.choice(INTRODUCTIONS).format(name=name), ROLE["pronoun"].format(role=role)]
    else:
        sentences = [rng.choice(INTRODUCTIONS).format(name=name) if rng.random() < 0.5 else _attribute(rng, vocab, name)]
    if rng.random() < 0.5:
        sentences.append(_attribute(rng, vocab, None))
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
    for role in ROLES:
        lines += [ROLE["direct"].format(name=rng.choice(vocab.people), role=role), ROLE["pronoun"].format(role=role),
                  ROLE["question"].format(role=role)]
    return lines
