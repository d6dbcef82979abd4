"""Biography samples (text="biography") and the whole-sequence MDM loss."""
import math
import random
from collections import Counter

import pytest
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


def sentences_and_llada(cache, n: int):
    """A batch of the tiny world's first ``n`` sentences and its llada model."""
    tokenizer = cache.tokenizer()
    samples = training_samples(cache.world(), tokenizer, "sentences")[:n]
    batch = collate_right(samples, tokenizer.pad_token_id, tokenizer.eos_token_id, 0.0, random.Random(0))
    return batch, load_model(cache.model_paths["llada"])


def test_mdm_sequence_loss_masks_prompt_tokens_too(tiny_cache, monkeypatch):
    batch, adapter = sentences_and_llada(tiny_cache, 8)
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


def test_mdm_weighting_and_full_masks(tiny_cache, monkeypatch):
    batch, adapter = sentences_and_llada(tiny_cache, 16)
    seen = []
    # Logits that favour high token ids: each masked token's loss depends on its id.
    ramp = torch.linspace(0.0, 3.0, adapter.vocab_size)
    monkeypatch.setattr(adapter, "token_logits", lambda ids, mask: seen.append(ids == adapter.mask_token_id)
                        or ramp.expand(*ids.shape, -1))
    ce = -torch.log_softmax(ramp, 0)[batch["input_ids"]]
    span = batch["span"]
    torch.manual_seed(0)
    mean = MDMObjective(adapter, weighting="mean").loss(batch)
    assert mean.item() == pytest.approx(ce[seen[-1]].mean().item(), rel=1e-5)
    elbo = MDMObjective(adapter).loss(batch)
    masked = seen[-1]
    weight = span.sum(1, keepdim=True) / masked.sum(1, keepdim=True)  # G / k per row
    assert elbo.item() == pytest.approx(((ce * weight)[masked].sum() / span.sum()).item(), rel=1e-5)
    seen.clear()
    for _ in range(3):
        MDMObjective(adapter, full_mask_prob=1.0).loss(batch)
    assert all(torch.equal(masks, batch["span"]) for masks in seen)  # every object token, every row
    with pytest.raises(ValueError, match="weighting"):
        MDMObjective(adapter, weighting="1/t")
    with pytest.raises(ValueError, match="full_mask_prob"):
        MDMObjective(adapter, full_mask_prob=1.5)


def test_tagged_biographies_open_with_the_name_and_its_objects(tiny_cache):
    world, tokenizer = tiny_cache.world(), tiny_cache.tokenizer()
    singles = len(world.sentences())
    bios = training_samples(world, tokenizer, "tagged", biographies=2, seed=0)[singles:]
    plain = training_samples(world, tokenizer, "biography", biographies=2, seed=0)[singles:]
    subject, k = world.subjects[0], len(world.relations)
    tags, rest = bios[0][:k], bios[0][k:]
    # The tag line: the name, then each object as a pair of its own that continues the line.
    assert tags[0][0] == encode_prompt(tokenizer, subject) and all(p == [] for p, _ in tags[1:])
    assert [obj for _, obj in tags] == [obj for _, obj in rest]
    assert len(rest) == k and rest == plain[0]
    # Collated, the tag line is one sentence: the name and its objects with no EOS between them.
    eos = tokenizer.eos_token_id
    ids = collate_right([bios[0]], tokenizer.pad_token_id, eos, 0.0, random.Random(0))["input_ids"][0].tolist()
    line = [t for pair in tags for t in pair[0] + pair[1]]
    assert ids[:len(line) + 1] == line + [eos]


def test_tied_copies_share_a_group_and_are_masked_together(tiny_cache, monkeypatch):
    tokenizer = tiny_cache.tokenizer()
    # A tag line naming objects [7, 8] and [9], then their sentences.
    sample = [([5], [7, 8]), ([], [9]), ([6], [7, 8]), ([4], [9])]
    eos = tokenizer.eos_token_id
    plain = collate_right([sample], tokenizer.pad_token_id, eos, 0.0, random.Random(0))
    tied = collate_right([sample], tokenizer.pad_token_id, eos, 0.0, random.Random(0), tie_copies=True)
    assert plain["input_ids"][0].tolist() == [5, 7, 8, 9, eos, 6, 7, 8, eos, 4, 9]
    assert torch.equal(plain["input_ids"], tied["input_ids"]) and torch.equal(plain["span"], tied["span"])
    assert plain["group"][0].tolist() == list(range(11))
    # Each object token's copy points at its first mention; EOS and prompt tokens stay their own.
    assert tied["group"][0].tolist() == [0, 1, 2, 3, 4, 5, 1, 2, 8, 9, 3]

    adapter = load_model(tiny_cache.model_paths["llada"])
    seen = []
    monkeypatch.setattr(adapter, "token_logits", lambda ids, mask: seen.append(ids == adapter.mask_token_id)
                        or torch.zeros(*ids.shape, adapter.vocab_size))
    torch.manual_seed(0)
    for _ in range(40):
        MDMObjective(adapter, loss_on="object").loss(tied)
        MDMObjective(adapter, loss_on="object").loss(plain)
    tied_masks, plain_masks = torch.cat(seen[0::2]), torch.cat(seen[1::2])
    for first, copy in ((1, 6), (2, 7), (3, 10)):
        assert torch.equal(tied_masks[:, first], tied_masks[:, copy])
    # Untied, some draw masks one mention and leaves its copy in view.
    assert (plain_masks[:, 1] != plain_masks[:, 6]).any()


def test_tags_text_keeps_only_each_biographys_tag_line(tiny_cache):
    world, tokenizer = tiny_cache.world(), tiny_cache.tokenizer()
    singles = len(world.sentences())
    tagged = training_samples(world, tokenizer, "tagged", biographies=2, seed=0)
    tags = training_samples(world, tokenizer, "tags", biographies=2, seed=0)
    assert tags[:singles] == tagged[:singles]
    k = len(world.relations)
    assert [s[:k] for s in tagged[singles:]] == tags[singles:] and all(len(s) == k for s in tags[singles:])
