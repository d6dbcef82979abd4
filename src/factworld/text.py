"""The pretraining text a world becomes: one sample per (fact, template) sentence, and with
``text="biography"`` also biographies, several facts of one subject in one sample.

Controlled studies of storage (Allen-Zhu and Li, Physics of Language Models 3.1) found facts
become readable at an entity's name only with such augmented text: several attribute sentences
per entity in one sample, their order shuffled, each a random paraphrase with the full name.
A sample is a list of (prompt ids, object ids) pairs; a pair with an empty prompt continues
the sentence before it, and the collator joins sentences with EOS.

``text="tagged"`` opens each biography with a tag line, the subject's name followed at once by
its objects in the biography's order ("Vel Mora Xan Kor Dal ..."): the name's last token must
then predict the subject's attributes without any relation word, which is pressure to store
them at the name (sentences alone let the last prompt token look the fact up itself).
``text="tags"`` keeps only that tag line of each biography: the same pressure on the name at
about a fifth of a biography's tokens.
"""
from __future__ import annotations

import random
from collections import defaultdict
from typing import Literal

from transformers import PreTrainedTokenizerBase

from .tokens import encode_prompt, encode_sentences, encode_target
from .world import World

Pair = tuple[list[int], list[int]]
Sample = list[Pair]
TextForm = Literal["sentences", "biography", "tagged", "tags"]
BIOGRAPHY_FORMS = ("biography", "tagged", "tags")


def training_samples(world: World, tokenizer: PreTrainedTokenizerBase, text: TextForm = "sentences",
                     biographies: int = 8, seed: int = 0) -> list[Sample]:
    """Every single-fact sentence as its own sample (the format prompts are evaluated in), plus,
    for ``text="biography"`` or ``"tagged"``, ``biographies`` samples per subject: all its
    facts, shuffled, each under a random template of its relation (after the tag line); for
    ``"tags"`` the tag line alone."""
    samples: list[Sample] = [[pair] for pair in encode_sentences(world, tokenizer)]
    if text == "sentences":
        return samples
    if text not in BIOGRAPHY_FORMS:
        raise ValueError(f"text={text!r}: choose 'sentences' or one of {BIOGRAPHY_FORMS}")
    relations = {r.name: r for r in world.relations}
    rng = random.Random(seed)
    by_subject = defaultdict(list)
    for fact in world.facts:
        by_subject[fact.subject].append(fact)
    for subject in world.subjects:
        for _ in range(biographies):
            facts = rng.sample(by_subject[subject], len(by_subject[subject]))
            sample = [(encode_prompt(tokenizer, relations[f.relation].prompt(
                f.subject, rng.randrange(len(relations[f.relation].templates)))),
                encode_target(tokenizer, f.object)) for f in facts]
            if text in ("tagged", "tags"):
                # One pair per object, the later ones with no prompt: they continue the tag line
                # (no EOS between them), and each object stays its own span for tied masking.
                tags = [([], obj) for _, obj in sample]
                tags[0] = (encode_prompt(tokenizer, subject), tags[0][1])
                sample = tags + (sample if text == "tagged" else [])
            samples.append(sample)
    return samples
