"""Decoders against fake models whose logits are planted, so every unmasking order is known."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from src.models.decoding import (DECODERS, GenerationResult, arm_greedy, decoder_options,
                                 dream_sample, generate, llada_sample)
from src.models.padding import left_pad

VOCAB, MASK, PAD, EOS = 32, 31, 3, 1
KEY_MOD = 4  # planted targets move by (sum of real prompt tokens) % KEY_MOD


def prompt_key(ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Depends on real tokens only: a decoder that let pads in would change every target."""
    return (ids * attention_mask).sum(-1) % KEY_MOD


class FakeModel(nn.Module):
    """The attributes and methods of a ModelAdapter that the decoders use."""

    def __init__(self, kind: str, decoder: str, shift: int):
        super().__init__()
        self.kind, self.decoder, self.shift = kind, decoder, shift
        self.mask_token_id = MASK if kind == "mdm" else None
        self.pad_token_id, self.eos_token_id = PAD, EOS
        self.calls: list[torch.Tensor] = []

    def aligned(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Planted distribution of the token at each position."""
        raise NotImplementedError

    def raw(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        logits = self.aligned(ids, attention_mask)
        if self.shift:  # raw head: position i holds the distribution of token i+1
            logits = torch.cat([logits[:, 1:], torch.zeros_like(logits[:, :1])], dim=1)
        return logits

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        assert (ids[attention_mask == 0] == PAD).all(), "non-pad token hidden by the attention mask"
        self.calls.append(ids.clone())
        return self.raw(ids, attention_mask)

    def token_logits(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        logits = self(ids, attention_mask)
        if self.shift:
            logits = torch.cat([torch.zeros_like(logits[:, :1]), logits[:, :-1]], dim=1)
        return logits

    def logits_at(self, ids: torch.Tensor, attention_mask: torch.Tensor, rows: torch.Tensor,
                  positions: torch.Tensor) -> torch.Tensor:
        return self(ids, attention_mask)[rows, positions - self.shift]


class PlantedMDM(FakeModel):
    """Generated position j has the fixed distribution ``probs[j]`` over tokens, rolled by the
    prompt key; the prompt is everything before the last ``len(probs)`` columns."""

    def __init__(self, probs: torch.Tensor, decoder: str = "llada", shift: int = 0):
        super().__init__("mdm", decoder, shift)
        assert probs.shape[1] == VOCAB and (probs[:, MASK] == 0).all()
        self.probs = probs

    def aligned(self, ids, attention_mask):
        gen = self.probs.shape[0]
        assert attention_mask[:, -gen:].bool().all(), "generated positions must be attended"
        key = prompt_key(ids[:, :-gen], attention_mask[:, :-gen])
        logits = torch.zeros(*ids.shape, VOCAB, dtype=torch.float64)
        for row in range(ids.shape[0]):
            rolled = self.probs.clone()
            rolled[:, :MASK] = rolled[:, :MASK].roll(int(key[row]), dims=-1)
            logits[row, -gen:] = rolled.clamp_min(1e-12).log()
        return logits


class ChainARM(FakeModel):
    """Next token = 4 + (sum of the real tokens so far) % 20, with a sharp peak."""

    def __init__(self):
        super().__init__("arm", "arm_greedy", shift=1)

    def raw(self, ids, attention_mask):
        # A next-token head: position i predicts token i+1, the last position the new token.
        nxt = 4 + (ids * attention_mask).cumsum(-1) % 20
        return torch.zeros(*ids.shape, VOCAB).scatter(-1, nxt.unsqueeze(-1), 10.0)


def peaked(targets: list[int], confidences: list[float]) -> torch.Tensor:
    """Each row: ``confidence`` on its target, the rest spread over the other real tokens."""
    probs = torch.zeros(len(targets), VOCAB, dtype=torch.float64)
    for j, (target, conf) in enumerate(zip(targets, confidences)):
        probs[j, :MASK] = (1 - conf) / (MASK - 1)
        probs[j, target] = conf
    return probs


def shaped(rows: list[list[float]], first_token: int = 10) -> torch.Tensor:
    """Each row: its listed probabilities on tokens first_token, first_token+1, ..."""
    probs = torch.zeros(len(rows), VOCAB, dtype=torch.float64)
    for j, row in enumerate(rows):
        assert math.isclose(sum(row), 1.0)
        probs[j, first_token:first_token + len(row)] = torch.tensor(row, dtype=torch.float64)
    return probs


PROMPT = [[5, 6, 7, 8]]  # key (5+6+7+8) % 4 = 2
TARGETS = [10, 11, 12, 13]
CONF = [0.3, 0.9, 0.5, 0.7]


def batch(prompts=PROMPT):
    return left_pad(prompts, PAD)


# ----------------------------------------------------------------------------- LLaDA
@pytest.mark.parametrize("block_length, steps, expected", [
    (4, 4, [3, 0, 2, 1]),  # most confident first
    (2, 4, [1, 0, 3, 2]),  # block 0 before block 1, most confident first inside each
    (4, 2, [1, 0, 1, 0]),  # two commits per step
    (2, 2, [0, 0, 1, 1]),  # one step per block commits the whole block
    (1, 4, [0, 1, 2, 3]),  # blocks of one: left to right
])
def test_llada_low_confidence_order(block_length, steps, expected):
    model = PlantedMDM(peaked(TARGETS, CONF))
    result = llada_sample(model, *batch(), gen_length=4, steps=steps, block_length=block_length)
    assert result.order.tolist() == [expected]
    assert result.tokens.tolist() == [[t + 2 for t in TARGETS]]


def test_llada_more_steps_than_tokens_skips_empty_steps():
    model = PlantedMDM(peaked(TARGETS, CONF))
    result = llada_sample(model, *batch(), gen_length=4, steps=8)
    assert result.order.tolist() == [[3, 0, 2, 1]]
    assert len(model.calls) == 4


def test_llada_feeds_committed_tokens_back():
    model = PlantedMDM(peaked(TARGETS, CONF))
    result = llada_sample(model, *batch(), gen_length=4, steps=4)
    for step, seen in enumerate(model.calls):
        committed = result.order[0] < step
        expected = torch.where(committed, result.tokens[0], torch.full_like(result.tokens[0], MASK))
        assert seen[0, -4:].tolist() == expected.tolist()
        assert seen[0, :4].tolist() == PROMPT[0]


def test_llada_random_remasking_is_seeded_and_keeps_blocks():
    model = PlantedMDM(peaked(TARGETS, CONF))
    orders = set()
    for seed in range(6):
        runs = [llada_sample(model, *batch(), gen_length=4, steps=4, block_length=2,
                             remasking="random", generator=torch.Generator().manual_seed(seed))
                for _ in range(2)]
        assert torch.equal(runs[0].order, runs[1].order)
        order = runs[0].order[0].tolist()
        assert sorted(order[:2]) == [0, 1] and sorted(order[2:]) == [2, 3]
        assert runs[0].tokens.tolist() == [[t + 2 for t in TARGETS]]
        orders.add(tuple(order))
    assert len(orders) > 1


def test_llada_temperature_sampling_is_seeded():
    model = PlantedMDM(peaked(TARGETS, [0.4, 0.4, 0.4, 0.4]))
    runs = [llada_sample(model, *batch(), gen_length=4, steps=4, temperature=1.0,
                         generator=torch.Generator().manual_seed(3)) for _ in range(2)]
    assert torch.equal(runs[0].tokens, runs[1].tokens) and torch.equal(runs[0].order, runs[1].order)
    assert (runs[0].tokens != MASK).all()


# ----------------------------------------------------------------------------- Dream
# Four positions on which the three confidence criteria disagree:
#   top-1 prob:  A .45 > B .42 > C .40 > D .30
#   margin:      B .36 > D .25 > C .05 > A .01
#   -entropy:    C (1.08) > A (1.20) > B (2.02) > D (2.46)
CRITERIA_ROWS = [
    [0.45, 0.44] + [0.11 / 9] * 9,   # A: high top-1, tiny margin
    [0.42] + [0.058] * 10,           # B: largest margin, flat tail
    [0.40, 0.35, 0.25],              # C: lowest entropy
    [0.30] + [0.05] * 14,            # D: low top-1, fair margin, high entropy
]


@pytest.mark.parametrize("alg, expected", [
    # gen_length 4 in 3 steps: Dream's schedule reveals 1, 1, then the remaining 2.
    ("maskgit_plus", [0, 1, 2, 2]),
    ("topk_margin", [2, 0, 2, 1]),
    ("entropy", [1, 2, 0, 2]),
])
def test_dream_algs_order_by_their_own_criterion(alg, expected):
    model = PlantedMDM(shaped(CRITERIA_ROWS), decoder="dream", shift=1)
    result = dream_sample(model, *batch(), gen_length=4, steps=3, alg=alg)
    assert result.order.tolist() == [expected]
    assert result.tokens.tolist() == [[12, 12, 12, 12]]  # token 10 rolled by the key 2


def test_dream_shift_is_handled_by_token_logits():
    probs = peaked(TARGETS, CONF)
    unshifted = dream_sample(PlantedMDM(probs, "dream", shift=0), *batch(), 4, steps=4, alg="maskgit_plus")
    shifted_model = PlantedMDM(probs, "dream", shift=1)
    shifted = dream_sample(shifted_model, *batch(), 4, steps=4, alg="maskgit_plus")
    assert torch.equal(unshifted.tokens, shifted.tokens) and torch.equal(unshifted.order, shifted.order)
    assert shifted.tokens.tolist() == [[t + 2 for t in TARGETS]]
    # The raw head really is shifted: read unaligned, position j would show token j+1's target.
    raw = shifted_model(shifted_model.calls[0], torch.ones_like(shifted_model.calls[0]))
    assert raw[0, -4:-1].argmax(-1).tolist() == [t + 2 for t in TARGETS[1:]]


def test_dream_schedule_and_single_step():
    model = PlantedMDM(peaked(TARGETS, CONF), decoder="dream")
    # steps < gen_length: several reveals per step; the last step reveals all that remain.
    assert dream_sample(model, *batch(), 4, steps=2, alg="maskgit_plus").order.tolist() == [[1, 0, 1, 1]]
    assert dream_sample(model, *batch(), 4, steps=1, alg="entropy").order.tolist() == [[0, 0, 0, 0]]


def test_dream_origin_is_seeded_and_reveals_everything():
    model = PlantedMDM(peaked(TARGETS * 2, CONF * 2), decoder="dream", shift=1)
    orders = set()
    for seed in range(4):
        runs = [dream_sample(model, *batch(), 8, steps=8, alg="origin",
                             generator=torch.Generator().manual_seed(seed)) for _ in range(2)]
        assert torch.equal(runs[0].order, runs[1].order)
        assert runs[0].tokens.tolist() == [[t + 2 for t in TARGETS * 2]]
        assert ((runs[0].order >= 0) & (runs[0].order < 8)).all()
        orders.add(tuple(runs[0].order[0].tolist()))
    assert len(orders) > 1


def test_dream_alg_temp_and_temperature_are_seeded():
    model = PlantedMDM(shaped(CRITERIA_ROWS), decoder="dream", shift=1)
    kwargs = dict(gen_length=4, steps=3, alg="entropy", alg_temp=0.5, temperature=0.7, top_p=0.9)
    runs = [dream_sample(model, *batch(), generator=torch.Generator().manual_seed(1), **kwargs)
            for _ in range(2)]
    assert torch.equal(runs[0].tokens, runs[1].tokens) and torch.equal(runs[0].order, runs[1].order)
    assert sorted(runs[0].order[0].tolist()) == [0, 1, 2, 2]


def test_dream_top_p_keeps_the_nucleus():
    # Position 0: .5/.3/.2; top_p .6 keeps the two most likely tokens only.
    model = PlantedMDM(shaped([[0.5, 0.3, 0.2]]), decoder="dream")
    seen = set()
    for seed in range(30):
        result = dream_sample(model, *batch(), 1, steps=1, temperature=1.0, top_p=0.6,
                              generator=torch.Generator().manual_seed(seed))
        seen.add(result.tokens.item())
    assert seen == {12, 13}


# ----------------------------------------------------------------------------- determinism
@pytest.mark.parametrize("decoder, kwargs", [
    (llada_sample, dict(steps=4, block_length=2)),
    (dream_sample, dict(steps=3, alg="maskgit_plus")),
    (dream_sample, dict(steps=3, alg="topk_margin")),
    (dream_sample, dict(steps=3, alg="entropy")),
])
def test_temperature_zero_is_deterministic(decoder, kwargs):
    model = PlantedMDM(shaped(CRITERIA_ROWS))
    first, second = (decoder(model, *batch(), 4, **kwargs) for _ in range(2))
    assert torch.equal(first.tokens, second.tokens) and torch.equal(first.order, second.order)


# ----------------------------------------------------------------------------- ARM
def chain(prompt: list[int], n: int) -> list[int]:
    tokens = list(prompt)
    for _ in range(n):
        tokens.append(4 + sum(tokens) % 20)
    return tokens[len(prompt):]


def test_arm_greedy_follows_the_argmax_chain():
    result = arm_greedy(ChainARM(), *batch(), gen_length=5)
    assert result.tokens.tolist() == [chain(PROMPT[0], 5)]
    assert result.order.tolist() == [[0, 1, 2, 3, 4]]


# ----------------------------------------------------------------------------- padding
PADDED_CASES = [
    (ChainARM, arm_greedy, dict()),
    (lambda: PlantedMDM(peaked(TARGETS, CONF)), llada_sample, dict(steps=4, block_length=2)),
    (lambda: PlantedMDM(shaped(CRITERIA_ROWS), "dream", 1), dream_sample, dict(steps=3, alg="topk_margin")),
    (lambda: PlantedMDM(peaked(TARGETS, CONF), "dream", 1), dream_sample, dict(steps=4, alg="origin")),
]


@pytest.mark.parametrize("make, decoder, kwargs", PADDED_CASES)
def test_left_padding_changes_nothing(make, decoder, kwargs):
    prompts = [[5, 6, 7, 8], [9], [4, 4, 4, 4, 4, 4, 9]]  # keys 2, 1, 1; pads would add 3 each
    seeded = lambda: torch.Generator().manual_seed(0)  # noqa: E731  (arm_greedy ignores it)
    batched = decoder(make(), *left_pad(prompts, PAD), 4, generator=seeded(), **kwargs)
    for row, prompt in enumerate(prompts):
        alone = decoder(make(), *left_pad([prompt], PAD), 4, generator=seeded(), **kwargs)
        assert batched.tokens[row].tolist() == alone.tokens[0].tolist()
        if kwargs.get("alg") != "origin":  # origin's draws depend on the batch shape
            assert batched.order[row].tolist() == alone.order[0].tolist()
    assert batched.tokens[1].tolist() != batched.tokens[0].tolist()


PER_ROW_CASES = [
    (lambda: PlantedMDM(peaked(TARGETS, CONF), "dream", 1), dream_sample, dict(steps=4, alg="origin")),
    # Sampling: a row draws tokens only in the steps it reveals something, as it would alone.
    (lambda: PlantedMDM(peaked(TARGETS, CONF), "dream", 1), dream_sample, dict(steps=4, alg="origin", temperature=3.0)),
    (lambda: PlantedMDM(shaped(CRITERIA_ROWS), "dream", 1), dream_sample,
     dict(steps=3, alg="entropy", alg_temp=0.5, temperature=0.7)),
    (lambda: PlantedMDM(peaked(TARGETS, CONF)), llada_sample, dict(steps=4, remasking="random", temperature=0.5)),
]


@pytest.mark.parametrize("make, decoder, kwargs", PER_ROW_CASES)
def test_per_row_generators_decode_a_row_the_same_in_any_batch(make, decoder, kwargs):
    # One generator per row: a row's reveal order and samples follow its own seed, not the batch.
    prompts = [[5, 6, 7, 8], [9], [4, 4, 4, 4, 4, 4, 9]]
    seeded = lambda seeds: [torch.Generator().manual_seed(s) for s in seeds]  # noqa: E731
    batched = decoder(make(), *left_pad(prompts, PAD), 4, generator=seeded([3, 4, 5]), **kwargs)
    for row, (prompt, seed) in enumerate(zip(prompts, [3, 4, 5])):
        alone = decoder(make(), *left_pad([prompt], PAD), 4, generator=seeded([seed]), **kwargs)
        assert batched.tokens[row].tolist() == alone.tokens[0].tolist()
        assert batched.order[row].tolist() == alone.order[0].tolist()
    orders = {tuple(decoder(make(), *left_pad(prompts[:1], PAD), 4, generator=seeded([s]), **kwargs).order[0].tolist())
              for s in range(8)}
    assert len(orders) > 1  # the seeds do draw different orders
    with pytest.raises(ValueError, match="2 per-row generators for a batch of 3"):
        decoder(make(), *left_pad(prompts, PAD), 4, generator=seeded([1, 2]), **kwargs)


def test_left_pad():
    ids, mask = left_pad([[5, 6], [7], []], PAD)
    assert ids.tolist() == [[5, 6], [PAD, 7], [PAD, PAD]]
    assert mask.tolist() == [[1, 1], [0, 1], [0, 0]]
    assert ids.dtype == mask.dtype == torch.long
    with pytest.raises(ValueError):
        left_pad([], PAD)


# ----------------------------------------------------------------------------- dispatch, validation
def test_generate_dispatches_on_the_adapter_decoder():
    assert set(DECODERS) == {"arm_greedy", "llada", "dream"}
    arm = generate(ChainARM(), *batch(), 3)
    assert isinstance(arm, GenerationResult) and arm.tokens.tolist() == [chain(PROMPT[0], 3)]
    llada = generate(PlantedMDM(peaked(TARGETS, CONF)), *batch(), 4)  # steps default to gen_length
    assert llada.order.tolist() == [[3, 0, 2, 1]]
    dream_model = PlantedMDM(shaped(CRITERIA_ROWS), "dream", 1)
    dream = generate(dream_model, *batch(), 4, alg="maskgit_plus")
    assert torch.equal(dream.order, dream_sample(dream_model, *batch(), 4, steps=4, alg="maskgit_plus").order)


@pytest.mark.parametrize("model, kwargs, named", [
    (ChainARM, dict(steps=4), "steps"),
    (lambda: PlantedMDM(peaked(TARGETS, CONF)), dict(alg="entropy"), "alg"),
    (lambda: PlantedMDM(peaked(TARGETS, CONF), "dream"), dict(block_length=2), "block_length"),
])
def test_generate_rejects_options_of_other_decoders(model, kwargs, named):
    adapter = model()
    with pytest.raises(TypeError, match=rf"(?s)'{adapter.decoder}'.*'{named}'"):
        generate(adapter, *batch(), 4, **kwargs)


@pytest.mark.parametrize("ratio, steps", [(0.5, 2), (0.3, 2), (0.01, 1), (1.0, 4)])
def test_steps_ratio_sets_steps_relative_to_gen_length(ratio, steps):
    relative = generate(PlantedMDM(peaked(TARGETS, CONF)), *batch(), 4, steps_ratio=ratio)
    fixed = llada_sample(PlantedMDM(peaked(TARGETS, CONF)), *batch(), 4, steps=steps)
    assert torch.equal(relative.order, fixed.order) and int(relative.order.max()) == steps - 1


def test_steps_ratio_needs_a_sampler_with_steps_and_no_steps_beside_it():
    with pytest.raises(TypeError, match="steps_ratio"):
        generate(ChainARM(), *batch(), 4, steps_ratio=0.5)
    for kwargs in (dict(steps_ratio=0.5, steps=2), dict(steps_ratio=0.0)):
        with pytest.raises(ValueError, match="steps_ratio"):
            generate(PlantedMDM(peaked(TARGETS, CONF)), *batch(), 4, **kwargs)


def test_decoder_options():
    assert decoder_options(arm_greedy) == []
    assert "remasking" in decoder_options(llada_sample) and "alg_temp" in decoder_options(dream_sample)


@pytest.mark.parametrize("decoder, kwargs, named", [
    (llada_sample, dict(gen_length=0, steps=4), "gen_length"),
    (llada_sample, dict(gen_length=4, steps=0), "steps"),
    (llada_sample, dict(gen_length=4, steps=4, block_length=3), "block_length"),
    (llada_sample, dict(gen_length=4, steps=3, block_length=2), "steps"),
    (llada_sample, dict(gen_length=4, steps=4, remasking="lowest"), "remasking"),
    (dream_sample, dict(gen_length=4, steps=0), "steps"),
    (dream_sample, dict(gen_length=0, steps=4), "gen_length"),
    (dream_sample, dict(gen_length=4, steps=4, alg="greedy"), "alg"),
    (arm_greedy, dict(gen_length=0), "gen_length"),
])
def test_invalid_options_raise(decoder, kwargs, named):
    model = ChainARM() if decoder is arm_greedy else PlantedMDM(peaked(TARGETS, CONF))
    with pytest.raises(ValueError, match=named):
        decoder(model, *batch(), **kwargs)
