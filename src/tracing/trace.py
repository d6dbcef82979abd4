"""Causal tracing of one fact (ROME, Meng et al. 2022) for any family adapter.

P(object) is the probability of the *first* target token, as in ROME: it is read at the first
supervised position of ``adapter.target_inputs`` (ARM: after the prompt; MDM: the first of the
target's [MASK]s, so the MDM knows the answer length), through ``token_logits``, which undoes
Dream's shift. The traced tokens are those that can change that reading: the prompt for an
ARM (causal), the prompt and the [MASK]s for an MDM (bidirectional).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Literal

import torch

from src.models.base import ModelAdapter

from .corrupt import corrupt_subject, noise_samples, record_outputs, record_states, replay_layers, restore_states

Kind = Literal["hidden", "mlp", "attn"]
KINDS: tuple[Kind, ...] = ("hidden", "mlp", "attn")


@dataclass
class TraceResult:
    """Restored P(object) of every (layer, token) cell of one fact, and its two references."""

    kind: str
    input_ids: list[int]
    subject_span: tuple[int, int]
    prompt_len: int
    """Columns ``>= prompt_len`` are an MDM's target [MASK]s."""
    read_position: int
    target_id: int
    clean_p: float
    corrupted_p: float
    scores: torch.Tensor
    """[num_layers, traced tokens]: P(object) with that cell restored, mean over noise samples."""
    window: int
    correct: bool
    """Whether the clean model's argmax at the read position is the target."""

    @property
    def effect(self) -> torch.Tensor:
        """Indirect effect: restored P - corrupted P."""
        return self.scores - self.corrupted_p

    def to_dict(self) -> dict:
        return {**asdict(self), "scores": self.scores.tolist(), "effect": self.effect.tolist()}


def module_template(adapter: ModelAdapter, kind: Kind) -> str:
    return {"hidden": adapter.layer_module_template, "mlp": adapter.mlp_module_template,
            "attn": adapter.attn_module_template}[kind]


def window_layers(layer: int, window: int, num_layers: int) -> range:
    """The ``window`` layers centred on ``layer`` (ROME's layer - w//2 .. layer + ceil(w/2)), clipped."""
    return range(max(0, layer - window // 2), min(num_layers, layer - (-window // 2)))


def _restorations(cells: list[tuple[int, int]], samples: int, window: int,
                  num_layers: int, device: torch.device) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """Per layer, the (rows, tokens) to restore when cell i occupies rows i*samples .. (i+1)*samples-1."""
    at: dict[int, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    for i, (layer, token) in enumerate(cells):
        for m in window_layers(layer, window, num_layers):
            at[m][0].extend(range(i * samples, (i + 1) * samples))
            at[m][1].extend([token] * samples)
    return {m: (torch.tensor(r, device=device), torch.tensor(t, device=device)) for m, (r, t) in at.items()}


def trace_fact(adapter: ModelAdapter, prompt_ids: list[int], subject_span: tuple[int, int],
               target_ids: list[int], samples: int = 10, noise: float = 0.1, window: int = 10,
               kind: Kind = "hidden", seed: int = 0, batch_size: int = 128,
               batched: bool = True, replay: bool = True) -> TraceResult:
    """Trace one fact: clean run, ``samples`` corrupted runs, then every (layer, token) restored.

    ``kind`` "hidden" restores one layer output; "mlp"/"attn" restore the module outputs of
    ``window`` layers centred on the layer. Restorations run ``batch_size // samples`` cells per
    forward pass (at least one); ``batched=False`` runs one cell per pass (same numbers, slower).
    ``replay`` starts each pass at its lowest restored layer, the layers below returning the
    corrupted run's outputs (same numbers; about 1.6x faster at ROME's window of 10 in 30 layers).
    """
    device = next(adapter.parameters()).device
    ids, supervised = adapter.target_inputs(prompt_ids, target_ids)
    read, target = supervised[0], target_ids[0]
    if adapter.kind == "arm":
        ids = ids[:read + 1]  # later tokens cannot reach an ARM's reading
    n_tokens = read if adapter.kind == "arm" else len(ids)
    row = torch.tensor([ids], device=device)
    template = module_template(adapter, kind)
    width = 1 if kind == "hidden" else window

    def p_target(n_rows: int) -> torch.Tensor:
        rows = torch.arange(n_rows)
        logits = adapter.logits_at(row.expand(n_rows, -1), None, rows, torch.full_like(rows, read))
        return logits.float().softmax(-1)[:, target]

    with torch.no_grad():
        with record_states(adapter, template) as clean:
            clean_logits = adapter.token_logits(row)[0, read]
        span_len = subject_span[1] - subject_span[0]
        noise_t = noise_samples(samples, span_len, adapter.hidden_size, noise, seed).to(device)
        cells = [(layer, t) for layer in range(adapter.num_layers) for t in range(n_tokens)]
        per_pass = max(1, batch_size // samples) if batched else 1
        scores = []
        with corrupt_subject(adapter, subject_span, noise_t):
            with record_outputs(adapter) as corrupted_out:
                corrupted = p_target(samples).mean().item()
            for i in range(0, len(cells), per_pass):
                chunk = cells[i:i + per_pass]
                below = min(window_layers(layer, width, adapter.num_layers).start for layer, _ in chunk) if replay else 0
                with replay_layers(adapter, corrupted_out, below, len(chunk)), restore_states(
                        adapter, template, clean, _restorations(chunk, samples, width, adapter.num_layers, device)):
                    scores.append(p_target(len(chunk) * samples).view(len(chunk), samples).mean(1))
    return TraceResult(kind=kind, input_ids=list(ids), subject_span=tuple(subject_span),
                       prompt_len=len(prompt_ids), read_position=read, target_id=target,
                       clean_p=clean_logits.float().softmax(-1)[target].item(), corrupted_p=corrupted,
                       scores=torch.cat(scores).view(adapter.num_layers, n_tokens).cpu(), window=width,
                       correct=int(clean_logits.argmax()) == target)
