"""CounterFact's own measures beside the exact-match ones, per edit and under that edit's patch:
ROME's ES / PS / NS / EM / PM / NM (``src.evaluation.counterfact``), fluency (n-gram entropy of
the edited model's greedy continuation of the edit prompt) and EasyEdit's Reliability /
Generalisation / Locality (teacher-forced token accuracies).

``with_counterfact_scores(ROME)`` is ROME whose records gain ``"counterfact": {...}``; the
classes below are the shipped methods so extended (configs name them as ``class_path``), and
``python -m src.evaluation.counterfact_summary runs/<name>`` averages the records.
"""
from __future__ import annotations

from typing import Any

import torch

from src.editing.cases import EditCase
from src.editing.hooks import RowPatch, patched
from src.evaluation.counterfact import (PromptScores, locality, teacher_forced_predictions,
                                        teacher_forced_token_accuracy, text_n_gram_entropy)
from src.evaluation.probability import object_logprob
from src.factworld.tokens import encode_target
from src.models.decoding import generate
from src.models.padding import left_pad

from .ft import FTL
from .lora import LoRAEdit
from .memit import MEMIT
from .rome import ROME


@torch.no_grad()
def counterfact_measures(adapter, tokenizer, cases: list[EditCase], patches: list[RowPatch],
                         fluency_tokens: int) -> list[dict[str, float | None]]:
    """Per edit: ES, PS, NS, EM, PM, NM, fluency (and the unedited model's on the same prompt),
    reliability, generalisation_tf, locality."""
    prompts, owner, kind, new, true = [], [], [], [], []
    for e, c in enumerate(cases):
        true_ids = encode_target(tokenizer, c.request.target_true or "")
        rows = ([(c.prompt.ids, "rewrite", true_ids)] + [(p, "paraphrase", true_ids) for p in c.paraphrases]
                + [(p, "neighborhood", t) for p, t in zip(c.neighbours, c.neighbour_targets)])
        for ids, k, t in rows:
            prompts.append(ids), owner.append(e), kind.append(k), new.append(c.target_ids), true.append(t)
    rows = torch.tensor(owner)
    with patched(patches, torch.cat([rows, rows])):  # new and true objects in one pass
        logp = object_logprob(adapter, prompts + prompts, new + true)
    new_lp, true_lp = logp[:len(prompts)], logp[len(prompts):]
    lengths = lambda objs: torch.tensor([max(1, len(o)) for o in objs], dtype=torch.float)  # noqa: E731
    scalar = PromptScores.from_logprobs(new_lp.cpu(), lengths(new), true_lp.cpu(), lengths(true))
    neighbours = [i for i, k in enumerate(kind) if k == "neighborhood"]
    with patched(patches, torch.full_like(rows[neighbours], -1)):  # the patches' hooks stay on: unpatched rows
        before = teacher_forced_predictions(adapter, [prompts[i] for i in neighbours], [true[i] for i in neighbours])
    with patched(patches, rows[neighbours]):
        after = teacher_forced_predictions(adapter, [prompts[i] for i in neighbours], [true[i] for i in neighbours])
    kept = dict(zip(neighbours, locality(before, after).tolist())) if neighbours else {}
    edited = [i for i, k in enumerate(kind) if k != "neighborhood"]
    with patched(patches, rows[edited]):
        accuracy = dict(zip(edited, teacher_forced_token_accuracy(
            adapter, [prompts[i] for i in edited], [new[i] for i in edited]).tolist()))
    fluency: list[float | None] = [None] * 2 * len(cases)
    if fluency_tokens:
        # The unedited model writes after the same prompts in the same call (rows bound to -1): the
        # reference an edited fluency is read against.
        ids, mask = left_pad([c.prompt.ids for c in cases] * 2, adapter.pad_token_id)
        with patched(patches, torch.cat([torch.arange(len(cases)), torch.full((len(cases),), -1)])):
            written = generate(adapter, ids, mask, fluency_tokens).tokens.tolist()
        fluency = [text_n_gram_entropy(tokenizer.decode(w, skip_special_tokens=True)) for w in written]

    def mean(values: list[float]) -> float | None:
        return sum(values) / len(values) if values else None

    out = []
    for e in range(len(cases)):
        def of(k: str) -> list[int]:
            return [i for i in range(len(prompts)) if owner[i] == e and kind[i] == k]

        def rate(k: str, expect_new: bool) -> tuple[float | None, float | None]:
            idx = of(k)
            if not idx:
                return None, None
            return PromptScores(scalar.new[idx], scalar.true[idx]).rate_and_magnitude(expect_new)

        (es, em), (ps, pm), (ns, nm) = rate("rewrite", True), rate("paraphrase", True), rate("neighborhood", False)
        out.append({"ES": es, "PS": ps, "NS": ns, "EM": em, "PM": pm, "NM": nm, "fluency": fluency[e],
                    "fluency_unedited": fluency[len(cases) + e],
                    "reliability": mean([accuracy[i] for i in of("rewrite")]),
                    "generalisation_tf": mean([accuracy[i] for i in of("paraphrase")]),
                    "locality": mean([kept[i] for i in of("neighborhood")])})
    return out


def with_counterfact_scores(method: type) -> type:
    """``method`` whose ``evaluate`` also writes ``counterfact_measures`` into each record."""

    class Scored(method):
        def __init__(self, *args, fluency_tokens: int = 32, **kwargs):
            """
            Args:
                fluency_tokens: greedy tokens written after the edit prompt for fluency (0: off).
            """
            super().__init__(*args, **kwargs)
            self.fluency_tokens = fluency_tokens

        def evaluate(self, cases: list[EditCase], patches: list[RowPatch],
                     options: dict[str, Any]) -> list[dict[str, Any]]:
            scores = super().evaluate(cases, patches, options)
            for score, extra in zip(scores, counterfact_measures(self.adapter, self.tokenizer, cases, patches,
                                                                 self.fluency_tokens)):
                score["counterfact"] = extra
            return scores

    Scored.__name__ = Scored.__qualname__ = f"{method.__name__}CounterFact"
    Scored.__doc__ = f"{method.__doc__}\n\nRecords also hold CounterFact's measures (``counterfact_measures``)."
    return Scored


ROMECounterFact = with_counterfact_scores(ROME)
MEMITCounterFact = with_counterfact_scores(MEMIT)
FTLCounterFact = with_counterfact_scores(FTL)
LoRACounterFact = with_counterfact_scores(LoRAEdit)
