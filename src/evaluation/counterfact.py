"""CounterFact metrics (ROME) from object log-probabilities, fluency, and EasyEdit's token accuracies.

ROME's per-prompt scalar is the mean per-token log-probability of an object, log P / N, so
objects of different lengths compare fairly; its probability is P = exp(log P / N), the
geometric mean per-token probability. With that scalar, per prompt:

- ES (efficacy, edit prompt) and PS (paraphrases): share where P(new) > P(true);
- NS (neighbourhood: other subjects, same relation): share where P(true) > P(new);
- EM / PM / NM: the mean of P(new) - P(true) (NM: P(true) - P(new)) over the same prompts;
- S: the harmonic mean of ES, PS and NS.

Prompts are averaged within their case first, then over cases (as ROME does). Values are
fractions in [0, 1] (ROME prints them x100). Fluency is ROME's weighted 2-/3-gram entropy.

EasyEdit's names are teacher-forced token accuracies instead: Reliability is
``teacher_forced_token_accuracy`` of target_new on the edit prompt, Generalisation the same on
paraphrases, Locality is ``locality`` of the neighbour prompts' predictions before vs after.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import torch

from src.models.base import ModelAdapter

from .probability import object_batch, object_log_softmax


@dataclass
class PromptScores:
    """ROME's per-prompt scalars [P] for the new and the true object, and each prompt's case
    index (None: every prompt is its own case)."""

    new: torch.Tensor
    true: torch.Tensor
    case: torch.Tensor | None = None

    @classmethod
    def from_logprobs(cls, new_logprob: torch.Tensor, new_length: torch.Tensor | int,
                      true_logprob: torch.Tensor, true_length: torch.Tensor | int,
                      case: torch.Tensor | None = None) -> "PromptScores":
        """From summed object log-probs (``probability.object_logprob``) and object lengths."""
        return cls(new_logprob / new_length, true_logprob / true_length, case)

    def _case_mean(self, values: torch.Tensor) -> float:
        values = values.double()
        if self.case is None:
            return values.mean().item()
        _, case = self.case.unique(return_inverse=True)
        sums = torch.zeros(int(case.max()) + 1, dtype=values.dtype, device=values.device)
        counts = torch.zeros_like(sums)
        sums.index_add_(0, case, values)
        counts.index_add_(0, case, torch.ones_like(values))
        return (sums / counts).mean().item()

    def rate_and_magnitude(self, expect_new: bool) -> tuple[float, float]:
        """(share of prompts where the expected object wins, mean probability margin)."""
        first, second = (self.new, self.true) if expect_new else (self.true, self.new)
        return self._case_mean(first > second), self._case_mean(first.exp() - second.exp())


def harmonic_mean(values: Sequence[float]) -> float:
    return 0.0 if min(values) <= 0 else len(values) / sum(1 / v for v in values)


def counterfact_scores(rewrite: PromptScores, paraphrase: PromptScores,
                       neighborhood: PromptScores) -> dict[str, float]:
    """ES, PS, NS, EM, PM, NM and S (fractions)."""
    es, em = rewrite.rate_and_magnitude(expect_new=True)
    ps, pm = paraphrase.rate_and_magnitude(expect_new=True)
    ns, nm = neighborhood.rate_and_magnitude(expect_new=False)
    return {"ES": es, "PS": ps, "NS": ns, "EM": em, "PM": pm, "NM": nm, "S": harmonic_mean([es, ps, ns])}


# ----------------------------------------------------------------------------- fluency
def words(text: str) -> list[str]:
    """Word and punctuation tokens; ROME uses nltk.word_tokenize, which this approximates."""
    return re.findall(r"\w+|[^\w\s]", text)


def text_n_gram_entropy(text: str | Sequence, ns: Sequence[int] = (2, 3),
                        weights: Sequence[float] = (2 / 3, 4 / 3)) -> float:
    """ROME's compute_n_gram_entropy: the mean over n of weight_n * entropy (bits) of the n-gram
    frequencies. ``text``: a string (split by ``words``) or a token list (e.g. token ids)."""
    tokens = words(text) if isinstance(text, str) else list(text)
    weighted = []
    for n, weight in zip(ns, weights, strict=True):
        counts = Counter(zip(*(tokens[i:] for i in range(n))))
        total = sum(counts.values())
        entropy = -sum(c / total * math.log2(c / total) for c in counts.values())  # 0 when too short
        weighted.append(weight * entropy)
    return sum(weighted) / len(weighted)


def n_gram_entropy(texts: Sequence[str | Sequence]) -> float:
    """Fluency: ``text_n_gram_entropy`` averaged over generated texts (ROME's arithmetic mean)."""
    return sum(map(text_n_gram_entropy, texts)) / len(texts)


# ----------------------------------------------------------------------------- EasyEdit
@torch.no_grad()
def teacher_forced_predictions(adapter: ModelAdapter, prompts_ids: Sequence[Sequence[int]],
                               objects_ids: Sequence[Sequence[int]]) -> list[torch.Tensor]:
    """The argmax token at each object position: ARMs teacher-forced on the object, MDMs with
    every object position [MASK]ed (never predicting [MASK])."""
    batch = object_batch(adapter, prompts_ids, objects_ids)
    predicted = object_log_softmax(adapter, batch, batch.ids).argmax(-1)
    return [row[valid] for row, valid in zip(predicted, batch.valid)]


def teacher_forced_token_accuracy(adapter: ModelAdapter, prompts_ids: Sequence[Sequence[int]],
                                  objects_ids: Sequence[Sequence[int]]) -> torch.Tensor:
    """Per pair [B]: the share of object tokens that are the argmax (EasyEdit's Reliability /
    Generalisation)."""
    predictions = teacher_forced_predictions(adapter, prompts_ids, objects_ids)
    return torch.stack([(p == torch.as_tensor(list(o), device=p.device)).double().mean()
                        for p, o in zip(predictions, objects_ids)])


def locality(before: Sequence[torch.Tensor], after: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per prompt [B]: the share of ``teacher_forced_predictions`` unchanged by the edit."""
    return torch.stack([(b == a).double().mean() for b, a in zip(before, after, strict=True)])
