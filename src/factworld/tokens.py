"""The one place prompts and objects become token ids (pretraining, recall and editing share it).

Prompts go through the tokenizer's own call (special tokens as the tokenizer adds them); an
object is encoded after a space and on its own, so its ids are the ones that follow the prompt
in ``prompt + " " + object`` (the Metaspace tokenizer keeps tokens inside words).
"""
from __future__ import annotations

from transformers import PreTrainedTokenizerBase

from .world import World


def encode_prompt(tokenizer: PreTrainedTokenizerBase, prompt: str) -> list[int]:
    return tokenizer(prompt)["input_ids"]


def encode_target(tokenizer: PreTrainedTokenizerBase, obj: str) -> list[int]:
    return tokenizer(" " + obj, add_special_tokens=False)["input_ids"]


def encode_sentences(world: World, tokenizer: PreTrainedTokenizerBase) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, object ids) of every (fact, template) sentence, in ``world.sentences()`` order."""
    return [(encode_prompt(tokenizer, p), encode_target(tokenizer, o)) for p, o in world.sentences()]
