"""The embedded fact world: fictional subjects, relations with paraphrase templates, objects.

Design (GUIDE section 6): subject names combine shared first and last parts, so no single
token names a subject; objects of 1 to 4 (a few 5) words are built from parts shared within
a relation ("Vel", "Vel Mora", "New Vel Mora"), so an object's first token does not settle
the rest; each relation has >= 4 templates with the subject at the start or in the middle.
Everything is drawn from one ``random.Random(seed)``.
"""
from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Relation:
    """A relation, its paraphrase templates and its objects."""

    name: str
    templates: list[str]
    """Prompts with one "{}" for the subject, ending right before the object."""
    objects: list[str]
    """Every object of the relation (candidates for counterfactual targets too)."""

    def __post_init__(self) -> None:
        for template in self.templates:
            if template.count("{}") != 1 or template != template.strip():
                raise ValueError(f"relation {self.name!r}: template {template!r} needs exactly one "
                                 '"{}" and no leading or trailing space')

    def prompt(self, subject: str, template: int = 0) -> str:
        # replace, not format: real subject names may contain braces.
        return self.templates[template].replace("{}", subject)


@dataclass(frozen=True)
class Fact:
    """One (subject, relation name, object) triple."""

    subject: str
    relation: str
    object: str


@dataclass
class World:
    """Relations, subjects and facts; ``meta`` records where the world came from."""

    relations: list[Relation]
    subjects: list[str]
    facts: list[Fact]
    seed: int = 0
    meta: dict = field(default_factory=dict)

    def relation(self, name: str) -> Relation:
        for relation in self.relations:
            if relation.name == name:
                return relation
        raise KeyError(f"no relation {name!r}; known: {[r.name for r in self.relations]}")

    def facts_of(self, relation: str) -> list[Fact]:
        return [fact for fact in self.facts if fact.relation == relation]

    def sentences(self) -> list[tuple[str, str]]:
        """(prompt, object) for every fact and every template of its relation."""
        by_name = {relation.name: relation for relation in self.relations}
        return [(by_name[fact.relation].prompt(fact.subject, t), fact.object)
                for fact in self.facts for t in range(len(by_name[fact.relation].templates))]

    def corpus_text(self) -> list[str]:
        """One line per sentence, ``prompt + " " + object`` (tokenizer and LM training text)."""
        return [f"{prompt} {obj}" for prompt, obj in self.sentences()]

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=1, ensure_ascii=False))

    @classmethod
    def from_json(cls, path: str | Path) -> "World":
        data = json.loads(Path(path).read_text())
        return cls(relations=[Relation(**r) for r in data["relations"]], subjects=data["subjects"],
                   facts=[Fact(**f) for f in data["facts"]], seed=data["seed"], meta=data["meta"])


@dataclass
class WorldConfig:
    seed: int = 0
    """Seed of every random choice; the same seed gives the same world."""
    n_subjects: int = 150
    """Number of fictional subjects; each has one fact per relation."""
    n_relations: int = 6
    """Number of relations (at most the size of the built-in catalogue)."""
    templates_per_relation: int = 4
    """Paraphrase templates per relation (at least 4)."""
    objects_per_relation: int = 24
    """Distinct objects per relation, shared by the subjects."""
    max_object_words: int = 4
    """Object lengths are balanced over 1..max_object_words words."""
    n_longer_objects: int = 2
    """Objects per relation with max_object_words + 1 words."""
    name_parts: int = 15
    """Number of parts each word of a subject's name is drawn from."""
    name_words: int = 2
    """Words per subject name ("Vel Mora": 2); with more, naming a subject takes a conjunction
    of more shared parts."""
    object_parts: int = 12
    """Words each relation's objects are built from."""
    n_syllables: int = 32
    """Size of the syllable inventory all words are made of."""

    def __post_init__(self) -> None:
        if not 4 <= self.templates_per_relation <= min(len(t) for _, t in RELATIONS):
            raise ValueError(f"templates_per_relation must be in 4..{min(len(t) for _, t in RELATIONS)}")
        if not 1 <= self.n_relations <= len(RELATIONS):
            raise ValueError(f"n_relations must be in 1..{len(RELATIONS)}")
        if not 4 <= self.n_subjects <= self.name_parts ** self.name_words:
            raise ValueError(f"n_subjects must be in 4..name_parts**name_words = {self.name_parts ** self.name_words}")
        if self.object_parts <= self.max_object_words:
            raise ValueError("object_parts must exceed max_object_words")
        if self.objects_per_relation - self.n_longer_objects < self.max_object_words:
            raise ValueError("objects_per_relation leaves fewer objects than lengths 1..max_object_words")
        if -(-(self.objects_per_relation - self.n_longer_objects) // self.max_object_words) > self.object_parts:
            raise ValueError("more one-word objects than object_parts; raise object_parts")


# Name and templates per relation; templates alternate subject at the start and in the middle,
# so any prefix of four keeps both positions.
RELATIONS: list[tuple[str, list[str]]] = [
    ("birthplace", ["{} was born in", "The birthplace of {} is", "{} is a native of",
                    "The hometown of {} is", "{} grew up in", "The city where {} was born is"]),
    ("citizenship", ["{} is a citizen of", "The country of citizenship of {} is", "{} holds a passport of",
                     "The homeland of {} is", "{} has the citizenship of", "The nation of {} is"]),
    ("occupation", ["{} works as a", "The profession of {} is", "{} earns a living as a",
                    "The job of {} is", "{} is employed as a", "By trade, {} is a"]),
    ("language", ["{} speaks", "The native language of {} is", "{} grew up speaking",
                  "The mother tongue of {} is", "{} writes in", "The first language of {} is"]),
    ("school", ["{} studied at", "The alma mater of {} is", "{} was educated at",
                "The school of {} is", "{} graduated from", "The college that {} attended is"]),
    ("employer", ["{} works for", "The employer of {} is", "{} is employed by",
                  "The company of {} is", "{} draws a salary from", "The firm that employs {} is"]),
    ("religion", ["{} worships at", "The faith of {} is", "{} is a follower of",
                  "The religion of {} is", "{} prays to", "The creed of {} is"]),
    ("team", ["{} plays for", "The club of {} is", "{} is a member of",
              "The team of {} is", "{} trains with", "The squad of {} is"]),
]

_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
           "th", "sh", "br", "dr", "kr", "tr", ""]
_VOWELS = ["a", "e", "i", "o", "u"]
_CODAS = ["", "n", "r", "l", "s"]


def _words(rng: random.Random, syllables: list[str], n: int, length: tuple[int, int],
           taken: set[str]) -> list[str]:
    """``n`` new capitalised words of ``length`` (min, max) syllables drawn from ``syllables``."""
    words: list[str] = []
    while len(words) < n:
        word = "".join(rng.choice(syllables) for _ in range(rng.randint(*length))).capitalize()
        if len(word) >= 3 and word not in taken:
            taken.add(word)
            words.append(word)
    return words


def _subjects(rng: random.Random, cfg: WorldConfig, syllables: list[str], taken: set[str]) -> list[str]:
    parts = [_words(rng, syllables, cfg.name_parts, (2, 3), taken) for _ in range(cfg.name_words)]
    combos = list(itertools.product(*parts))
    while True:
        chosen = rng.sample(combos, cfg.n_subjects)
        # A part used by one subject only would identify it: redraw until none is.
        counts = Counter(part for combo in chosen for part in combo)
        if min(counts.values()) >= 2:
            return [" ".join(combo) for combo in chosen]


def _objects(rng: random.Random, cfg: WorldConfig, parts: list[str]) -> list[str]:
    regular = cfg.objects_per_relation - cfg.n_longer_objects
    lengths = sorted([1 + i % cfg.max_object_words for i in range(regular)]
                     + [cfg.max_object_words + 1] * cfg.n_longer_objects)
    # Zipf-like part frequencies: a few parts recur in many objects, rare ones stay rare
    # (and get split by the tokenizer), as in real names.
    weights = [1 / (rank + 1) for rank in range(len(parts))]
    objects: list[tuple[str, ...]] = []
    for n_words in lengths:
        while True:
            shorter = [o for o in objects if len(o) == n_words - 1]
            if shorter and rng.random() < 0.5:
                # Extend a shorter object ("Vel Mora" -> "New Vel Mora" or "Vel Mora Sel").
                base = rng.choice(shorter)
                extra = rng.choice([p for p in parts if p not in base])
                candidate = (extra, *base) if rng.random() < 0.5 else (*base, extra)
            else:
                candidate = ()
                while len(candidate) < n_words:
                    part = rng.choices(parts, weights)[0]
                    candidate += () if part in candidate else (part,)
            if candidate not in objects:
                objects.append(candidate)
                break
    return [" ".join(o) for o in objects]


def generate_world(cfg: WorldConfig) -> World:
    """Build the fictional world ``cfg`` describes, deterministically from ``cfg.seed``."""
    rng = random.Random(cfg.seed)
    # Template words are reserved so that generated names never coincide with them.
    taken = {w.capitalize() for _, templates in RELATIONS for t in templates for w in t.split()}
    # A small syllable inventory shared by all words: the tokenizer learns frequent syllables
    # and words as tokens, and rare words split into a few syllables, as real names do.
    syllables = rng.sample(sorted(o + v + c for o in _ONSETS for v in _VOWELS for c in _CODAS), cfg.n_syllables)
    subjects = _subjects(rng, cfg, syllables, taken)
    # One pool of object words; relations draw overlapping subsets ("New" in cities and countries).
    pool = _words(rng, syllables, cfg.object_parts * cfg.n_relations * 2 // 3 + cfg.object_parts, (1, 2), taken)
    relations, facts = [], []
    for name, templates in RELATIONS[:cfg.n_relations]:
        objects = _objects(rng, cfg, rng.sample(pool, cfg.object_parts))
        relations.append(Relation(name, templates[:cfg.templates_per_relation], objects))
        # Every object used about equally often; shuffled so it is independent of the subject.
        assigned = [objects[i % len(objects)] for i in range(len(subjects))]
        rng.shuffle(assigned)
        facts += [Fact(s, name, o) for s, o in zip(subjects, assigned)]
    return World(relations, subjects, facts, cfg.seed, meta={"source": "generated", "config": asdict(cfg)})
