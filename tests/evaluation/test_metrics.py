"""Evaluation metrics against hand computations, loop versions and planted numbers."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from src.evaluation.counterfact import (PromptScores, counterfact_scores, locality, n_gram_entropy,
                                        teacher_forced_predictions, teacher_forced_token_accuracy,
                                        text_n_gram_entropy)
from src.evaluation.exact_match import exact_match, row_seed
from src.evaluation.per_length import PerLengthRate, format_table
from src.evaluation.probability import (chain_rule_logprob, elbo_logprob, object_logprob,
                                        unmasking_order_logprob)
from src.models import DreamAdapter, LLaDAAdapter, LlamaAdapter
from src.models.base import ModelAdapter
from src.models.decoding import llada_sample

V, MASK = 64, 63
HF = dict(vocab_size=V, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
          num_key_value_heads=2, pad_token_id=0)
BUILDERS = {
    "llama": lambda: LlamaAdapter.from_config(**HF),
    "llada": lambda: LLaDAAdapter.from_config(d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, mlp_hidden_size=48,
                                              vocab_size=V, embedding_size=V, mask_token_id=MASK, pad_token_id=0),
    "dream": lambda: DreamAdapter.from_config(**HF, mask_token_id=MASK),
}
# Prompts and objects of different lengths, so every batch is padded.
PROMPTS = [[5, 9, 12], [7], [3, 4, 5, 6, 8], [10, 11]]
OBJECTS = [[20, 21], [30, 31, 32], [40], [22, 23, 24, 25]]


def build(name: str) -> ModelAdapter:
    torch.manual_seed(0)
    # float64: near-ties in a random model must not flip between batched and loop versions.
    return BUILDERS[name]().double().eval()


def mdm_log_probs(adapter: ModelAdapter, ids: list[int]) -> torch.Tensor:
    """Unpadded log-distributions [L, V] without [MASK], the definition the module documents."""
    logits = adapter.token_logits(torch.tensor([ids]))[0]
    logits[:, adapter.mask_token_id] = float("-inf")
    return logits.log_softmax(-1)


# ----------------------------------------------------------------------------- probability
@torch.no_grad()
def test_chain_rule_is_the_sum_of_teacher_forced_token_log_probs():
    model = build("llama")
    expected = []
    for prompt, obj in zip(PROMPTS, OBJECTS):
        logp = model(torch.tensor([prompt + obj]))[0].log_softmax(-1)  # raw head: position i predicts i+1
        expected.append(sum(logp[len(prompt) + j - 1, tok].item() for j, tok in enumerate(obj)))
    assert torch.allclose(chain_rule_logprob(model, PROMPTS, OBJECTS), torch.tensor(expected, dtype=torch.float64))
    assert torch.equal(object_logprob(model, PROMPTS, OBJECTS, mdm_estimator="elbo"),
                       chain_rule_logprob(model, PROMPTS, OBJECTS))


@torch.no_grad()
def brute_force_order_logprob(model: ModelAdapter, prompt: list[int], obj: list[int]) -> float:
    state, remaining, total = prompt + [model.mask_token_id] * len(obj), list(range(len(obj))), 0.0
    while remaining:
        logp = mdm_log_probs(model, state)
        scores = [logp[len(prompt) + j, obj[j]].item() for j in remaining]
        best = scores.index(max(scores))  # leftmost on ties
        j = remaining.pop(best)
        total += scores[best]
        state[len(prompt) + j] = obj[j]
    return total


@pytest.mark.parametrize("name", ["llada", "dream"])
def test_unmasking_order_logprob_equals_the_loop_version(name):
    model = build(name)
    expected = [brute_force_order_logprob(model, p, o) for p, o in zip(PROMPTS, OBJECTS)]
    got = unmasking_order_logprob(model, PROMPTS, OBJECTS)
    assert torch.allclose(got, torch.tensor(expected, dtype=got.dtype))
    assert torch.equal(object_logprob(model, PROMPTS, OBJECTS), got)


@torch.no_grad()
def test_unmasking_order_is_llada_greedy_order_on_its_own_output():
    model, prompt, length = build("llada"), PROMPTS[0], 4
    result = llada_sample(model, torch.tensor([prompt]), None, length, steps=length)
    gold, order = result.tokens[0].tolist(), result.order[0].tolist()
    state, total = prompt + [MASK] * length, 0.0
    for j in sorted(range(length), key=order.__getitem__):  # the sampler's own order
        total += mdm_log_probs(model, state)[len(prompt) + j, gold[j]].item()
        state[len(prompt) + j] = gold[j]
    assert unmasking_order_logprob(model, [prompt], [gold]).item() == pytest.approx(total, abs=1e-9)


class ContextFreeMDM(ModelAdapter):
    """Each position's distribution depends on its position only, never on the tokens."""

    kind, shift = "mdm", 0

    def __init__(self):
        torch.manual_seed(1)
        super().__init__(nn.Embedding(16, V).double(), 1, V, V, mask_token_id=MASK, pad_token_id=0,
                         eos_token_id=None)

    def _network_logits(self, input_ids, attention_mask, position_ids):
        return self.network(position_ids)


def test_elbo_is_unbiased_for_a_context_free_model():
    """Masking k of N positions uniformly, E[sum_masked log p] = (k/N) sum log p: the ELBO's mean
    is the exact log-likelihood, and a one-token object is exact in every sample."""
    model = ContextFreeMDM()
    exact = unmasking_order_logprob(model, PROMPTS, OBJECTS)
    estimate = elbo_logprob(model, PROMPTS, OBJECTS, num_samples=500, seed=0)
    assert torch.allclose(estimate, exact, atol=0.25)  # seeded; per-sample sd ~1.3, so ~4 sigma
    assert estimate[2] == pytest.approx(exact[2].item(), abs=1e-9)


def test_elbo_is_seeded():
    model = build("llada")
    first = object_logprob(model, PROMPTS, OBJECTS, mdm_estimator="elbo", num_samples=4, seed=7)
    assert torch.equal(first, elbo_logprob(model, PROMPTS, OBJECTS, num_samples=4, seed=7))
    assert not torch.equal(first, elbo_logprob(model, PROMPTS, OBJECTS, num_samples=4, seed=8))
    assert (first < 0).all()


def test_probability_checks_family_and_inputs():
    with pytest.raises(ValueError, match="kind 'mdm'"):
        unmasking_order_logprob(build("llama"), PROMPTS, OBJECTS)
    with pytest.raises(ValueError, match="at least one token"):
        chain_rule_logprob(build("llama"), [[1]], [[]])
    with pytest.raises(ValueError, match="mdm_estimator"):
        object_logprob(build("llada"), PROMPTS, OBJECTS, mdm_estimator="exact")


# ----------------------------------------------------------------------------- CounterFact
def test_counterfact_scores_on_planted_probabilities():
    log = lambda *p: torch.tensor(p, dtype=torch.float64).log()  # noqa: E731
    rewrite = PromptScores(new=log(0.9, 0.2), true=log(0.1, 0.5))  # wins, loses
    # Case 0 has 3 paraphrases (2 won), case 1 has one (won): per case 2/3 and 1, mean 5/6.
    paraphrase = PromptScores(new=log(0.6, 0.6, 0.1, 0.7), true=log(0.2, 0.2, 0.3, 0.1),
                              case=torch.tensor([4, 4, 4, 9]))
    neighborhood = PromptScores(new=log(0.1, 0.1, 0.1, 0.8), true=log(0.5, 0.5, 0.5, 0.2))
    s = counterfact_scores(rewrite, paraphrase, neighborhood)
    assert s["ES"] == pytest.approx(0.5) and s["PS"] == pytest.approx(5 / 6) and s["NS"] == pytest.approx(0.75)
    assert s["EM"] == pytest.approx((0.8 - 0.3) / 2)
    assert s["PM"] == pytest.approx(((0.4 + 0.4 - 0.2) / 3 + 0.6) / 2)
    assert s["NM"] == pytest.approx((0.4 * 3 - 0.6) / 4)
    assert s["S"] == pytest.approx(3 / (1 / 0.5 + 6 / 5 + 1 / 0.75))
    zero = PromptScores(new=log(0.1), true=log(0.9))
    assert counterfact_scores(zero, paraphrase, neighborhood)["S"] == 0.0


def test_prompt_scores_are_per_token():
    scores = PromptScores.from_logprobs(torch.tensor([-2.0]), 2, torch.tensor([-1.5]), torch.tensor([1]))
    assert scores.rate_and_magnitude(expect_new=True)[0] == 1.0  # -1 per token beats -1.5


def test_n_gram_entropy_matches_hand_value_and_ranks_repetition_low():
    # "a b a b": bigrams {ab: 2, ba: 1}, trigrams {aba: 1, bab: 1}.
    h2 = -(2 / 3 * math.log2(2 / 3) + 1 / 3 * math.log2(1 / 3))
    assert text_n_gram_entropy("a b a b") == pytest.approx((2 / 3 * h2 + 4 / 3 * 1.0) / 2)
    assert text_n_gram_entropy([1, 2, 1, 2]) == text_n_gram_entropy("a b a b")
    repetitive = "the cat the cat the cat the cat the cat."
    varied = "the quick brown fox jumps over the lazy dog today."
    assert text_n_gram_entropy(repetitive) < text_n_gram_entropy(varied)
    assert n_gram_entropy([repetitive, varied]) == pytest.approx(
        (text_n_gram_entropy(repetitive) + text_n_gram_entropy(varied)) / 2)


@pytest.mark.parametrize("name", ["llama", "llada", "dream"])
def test_teacher_forced_accuracy_is_one_on_the_models_own_predictions(name):
    model = build(name)
    predicted = [p.tolist() for p in teacher_forced_predictions(model, PROMPTS, OBJECTS)]
    assert [len(p) for p in predicted] == [len(o) for o in OBJECTS]
    if model.kind == "arm":  # teacher-forced on itself, greedy output predicts itself
        predicted = exact_match(model, PROMPTS, OBJECTS)[1]
    accuracy = teacher_forced_token_accuracy(model, PROMPTS, predicted)
    assert torch.equal(accuracy, torch.ones(len(PROMPTS), dtype=torch.float64))
    before = teacher_forced_predictions(model, PROMPTS, OBJECTS)
    after = [p.clone() for p in before]
    after[3][0] += 1
    assert torch.equal(locality(before, after), torch.tensor([1.0, 1.0, 1.0, 0.75], dtype=torch.float64))


# ----------------------------------------------------------------------------- exact match
@pytest.mark.parametrize("name, options", [("llama", {}), ("llada", lambda n: {"steps": n, "block_length": n}),
                                           ("dream", {"alg": "maskgit_plus"})])
def test_exact_match_batched_equals_one_by_one(name, options):
    model = build(name)
    hits, generated = exact_match(model, PROMPTS, OBJECTS, options, batch_size=2)
    singles = [exact_match(model, [p], [o], options) for p, o in zip(PROMPTS, OBJECTS)]
    assert generated == [g[0] for _, g in singles] and hits == [h[0] for h, _ in singles]
    assert [len(g) for g in generated] == [len(o) for o in OBJECTS]
    planted = [generated[0], OBJECTS[1], generated[2], [1] * 4]
    assert exact_match(model, PROMPTS, planted, options)[0] == [True, generated[1] == OBJECTS[1], True,
                                                                 generated[3] == [1] * 4]


def test_exact_match_row_seeds_make_each_pair_independent_of_its_batch():
    model = build("dream")
    seeds = [row_seed(0, "case", i) for i in range(len(PROMPTS))]
    hits, generated = exact_match(model, PROMPTS, OBJECTS, {}, batch_size=2, row_seeds=seeds)
    singles = [exact_match(model, [p], [o], {}, row_seeds=[s]) for p, o, s in zip(PROMPTS, OBJECTS, seeds)]
    assert generated == [g[0] for _, g in singles] and hits == [h[0] for h, _ in singles]
    # The same pairs in reverse order, other batches: the same decodes.
    back = exact_match(model, PROMPTS[::-1], OBJECTS[::-1], {}, batch_size=3, row_seeds=seeds[::-1])[1]
    assert back[::-1] == generated
    assert exact_match(build("llama"), PROMPTS, OBJECTS, {}, row_seeds=seeds)[1] == exact_match(
        build("llama"), PROMPTS, OBJECTS)[1]  # a decoder that draws nothing ignores them
    assert row_seed(0, "case", 1) == row_seed(0, "case", 1) != row_seed(1, "case", 1)
    with pytest.raises(ValueError, match="3 row seeds for 4 prompts"):
        exact_match(model, PROMPTS, OBJECTS, {}, row_seeds=seeds[:3])
    with pytest.raises(ValueError, match="not both"):
        exact_match(model, PROMPTS, OBJECTS, {"generator": torch.Generator()}, row_seeds=seeds)


@pytest.mark.parametrize("name", ["llama", "llada", "dream"])
def test_exact_match_with_extra_length_needs_end_of_text_right_after_the_object(name):
    model = build(name)
    options = {"extra_length": 2, **({"alg": "maskgit_plus"} if name == "dream" else {})}
    generated = exact_match(model, PROMPTS, OBJECTS, options)[1]
    assert [len(g) for g in generated] == [len(o) + 2 for o in OBJECTS]
    # Objects planted as what the decoder writes first: a hit iff the next token is end-of-text.
    planted = [g[:len(o)] for g, o in zip(generated, OBJECTS)]
    model.eos_token_id = generated[0][len(OBJECTS[0])]
    hits = exact_match(model, PROMPTS, planted, options)[0]
    assert hits[0] and hits == [g[len(o)] == model.eos_token_id for g, o in zip(generated, OBJECTS)]
    model.eos_token_id = None
    with pytest.raises(ValueError, match="end-of-text"):
        exact_match(model, PROMPTS, planted, options)


# ----------------------------------------------------------------------------- per length
def test_per_length_rate_and_merged_instances():
    lengths, values = torch.tensor([1, 2, 2, 9, 12, 2, 3]), torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.25])
    first, second, everything = (PerLengthRate(max_length=8) for _ in range(3))
    first.update(lengths[:5], values[:5])
    second.update(lengths[5:], values[5:])
    everything.update(lengths, values)
    assert first.compute() == {1: 1.0, 2: 0.5, 8: 0.5}
    assert first.counts() == {1: 1, 2: 2, 8: 2}
    # Merged into the instance not yet computed: torchmetrics keeps a cached compute() across merge_state.
    second.merge_state(first)  # what the DDP sum of both processes' states gives
    assert second.compute() == everything.compute() == {1: 1.0, 2: 2 / 3, 3: 0.25, 8: 0.5}
    assert second.counts() == {1: 1, 2: 3, 3: 1, 8: 2}


def test_format_table():
    table = format_table({"efficacy": {1: 1.0, 8: 0.5}, "specificity": {1: 0.25}}, {1: 4, 8: 2}, max_length=8)
    lines = table.splitlines()
    assert lines[0].split() == ["N", "efficacy", "specificity", "n"]
    assert lines[1].split() == ["1", "100.0", "25.0", "4"]
    assert lines[2].split() == ["8+", "50.0", "-", "2"]
