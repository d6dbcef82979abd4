"""Biography samples (text="biography") and the whole-sequence MDM loss."""
import random
from collections import Counter

import torch

from src.factworld.data import collate_right
from src.factworld.objectives import MDMObjective
from src.factworld.text import training_samples
from src.factworld.tokens import encode_prompt, encode_target
from src.models import load_model


def test_sentences_are_one_fact_per_sample(tiny_cache):
    world, tokenizer = tiny_cache.world(), tiny_cache.tokenizer()
    samples = training_samples(world, tokenizer, "sentences")
    assert [len(s) for s in samples] == [1] * len(world.sentences())
    assert [s[0] for s in samples] == [(encode_prompt(tokenizer, p), encode_target(tokenizer, o))
                                      for p, o in world.sentences()]


def test_biographies_hold_every_fact_of_one_subject_shuffled(tiny_cache):
    world, tokenizer = tiny_cache.world(), tiny_cache.tokenizer()
    singles = len(world.sentences())
    samples = training_samples(world, tokenizer, "biography", biographies=3, seed=0)
    bios = samples[singles:]
    assert len(bios) == 3 * len(world.subjects)
    per_subject = len(world.relations)
    assert all(len(bio) == per_subject for bio in bios)
    # Each biography of subject s carries exactly s's objects; orders differ across biographies.
    first = world.subjects[0]
    want = Counter(tuple(encode_target(tokenizer, f.object)) for f in world.facts if f.subject == first)
    assert Counter(tuple(o) for _, o in bios[0]) == want
    orders = {tuple(tuple(p) for p, _ in bio) for bio in bios}
    assert len(orders) > len(world.subjects)


def test_collate_joins_sentences_with_eos_and_marks_objects(tiny_cache):
    tokenizer = tiny_cache.tokenizer()
    sample = [([5, 6], [7]), ([8], [9, 10])]
    batch = collate_right([sample, [([5], [7])]], tokenizer.pad_token_id, tokenizer.eos_token_id, 0.0,
                          random.Random(0))
    eos = tokenizer.eos_token_id
    assert batch["input_ids"][0].tolist() == [5, 6, 7, eos, 8, 9, 10]
    assert batch["span"][0].tolist() == [False, False, True, True, False, True, True]
    assert batch["attention_mask"][1].tolist() == [1, 1, 0, 0, 0, 0, 0]


def test_mdm_sequence_loss_masks_prompt_tokens_too(tiny_cache, monkeypatch):
    tokenizer = tiny_cache.tokenizer()
    samples = training_samples(tiny_cache.world(), tokenizer, "sentences")[:8]
    batch = collate_right(samples, tokenizer.pad_token_id, tokenizer.eos_token_id, 0.0, random.Random(0))
    adapter = load_model(tiny_cache.model_paths["llada"])
    seen = []
    original = adapter.token_logits

    def spy(ids, mask):
        seen.append(ids == adapter.mask_token_id)
        return original(ids, mask)

    monkeypatch.setattr(adapter, "token_logits", spy)
    torch.manual_seed(0)
    for _ in range(5):
        MDMObjective(adapter, loss_on="object").loss(batch)
        MDMObjective(adapter, loss_on="sequence").loss(batch)
    on_object = torch.stack(seen[0::2]).any(0)
    on_sequence = torch.stack(seen[1::2]).any(0)
    assert not (on_object & ~batch["span"]).any()
    assert (on_sequence & ~batch["span"]).any()
    assert not (on_sequence & ~batch["attention_mask"].bool()).any()


def test_tagged_biographies_open_with_the_name_and_its_objects(tiny_cache):
    world, tokenizer = tiny_cache.world(), tiny_cache.tokenizer()
    singles = len(world.sentences())
    bios = training_samples(world, tokenizer, "tagged", biographies=2, seed=0)[singles:]
    plain = training_samples(world, tokenizer, "biography", biographies=2, seed=0)[singles:]
    subject = world.subjects[0]
    (name, tags), rest = bios[0][0], bios[0][1:]
    assert name == encode_prompt(tokenizer, subject)
    assert tags == [t for _, obj in rest for t in obj]
    assert len(rest) == len(world.relations) and rest == plain[0]


def test_tags_text_keeps_only_each_biographys_tag_line(tiny_cache):
    world, tokenizer = tiny_cache.world(), tiny_cache.tokenizer()
    singles = len(world.sentences())
    tagged = training_samples(world, tokenizer, "tagged", biographies=2, seed=0)
    tags = training_samples(world, tokenizer, "tags", biographies=2, seed=0)
    assert tags[:singles] == tagged[:singles]
    assert [s[:1] for s in tagged[singles:]] == tags[singles:] and all(len(s) == 1 for s in tags[singles:])
