"""Measurements of a world under a tokenizer: can a token name a subject, how long are objects."""
from __future__ import annotations

from collections import Counter

from transformers import PreTrainedTokenizerBase

from .world import World


def _ids(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    return tokenizer.encode(text, add_special_tokens=False)


def subject_token_identifiability(world: World, tokenizer: PreTrainedTokenizerBase) -> float:
    """Share of subjects with a token that occurs in their name and in no other subject's name.

    A name is tokenized both at the start of a prompt and after a space, as templates place it.
    """
    tokens = {s: set(_ids(tokenizer, s)) | set(_ids(tokenizer, " " + s)) for s in world.subjects}
    owners = Counter(t for ids in tokens.values() for t in ids)
    identified = sum(any(owners[t] == 1 for t in ids) for ids in tokens.values())
    return identified / len(world.subjects)


def object_length_histogram(world: World, tokenizer: PreTrainedTokenizerBase,
                            per_fact: bool = False) -> dict[int, int]:
    """Number of objects of each token length (as tokenized after a prompt: " " + object).

    Counts each relation's distinct objects, or every fact when ``per_fact``.
    """
    if per_fact:
        objects = [f.object for f in world.facts]
    else:
        objects = [o for r in world.relations for o in r.objects]
    return dict(sorted(Counter(len(_ids(tokenizer, " " + o)) for o in objects).items()))


def object_first_token_ambiguity(world: World, tokenizer: PreTrainedTokenizerBase) -> float:
    """Share of multi-token objects whose first token also starts another object of the relation,
    i.e. revealing the first token does not settle the rest."""
    shared = total = 0
    for relation in world.relations:
        ids = [_ids(tokenizer, " " + o) for o in relation.objects]
        firsts = Counter(i[0] for i in ids)
        multi = [i for i in ids if len(i) > 1]
        total += len(multi)
        shared += sum(firsts[i[0]] > 1 for i in multi)
    return shared / max(total, 1)
