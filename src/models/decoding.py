"""Each family's own decoder: ARM greedy, LLaDA's semi-autoregressive sampler, Dream's sampler.

Every decoder takes a left-padded prompt batch (``input_ids`` [B, P], ``attention_mask`` [B, P]
with 0 on pads, see ``padding.left_pad``), appends ``gen_length`` positions on the right and
returns a ``GenerationResult``: the generated tokens and the step at which each was committed.
At temperature 0 every decoder is deterministic (Dream's ``origin`` also draws which masks to
reveal: pass a seeded ``generator`` to reproduce it). ``generator`` may also be one CPU generator
per row: each row's draws then come from its own, so a row decodes the same whichever rows
share its batch (``exact_match``'s ``row_seeds``).
"""
from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Literal, Union

import torch

if TYPE_CHECKING:
    from .base import ModelAdapter

# One generator for the batch, or one CPU generator per row.
Generators = Union[torch.Generator, Sequence[torch.Generator], None]
LLaDARemasking = Literal["low_confidence", "random"]
DreamAlg = Literal["origin", "maskgit_plus", "topk_margin", "entropy"]
LLADA_REMASKING = ("low_confidence", "random")
DREAM_ALGS = ("origin", "maskgit_plus", "topk_margin", "entropy")


@dataclass
class GenerationResult:
    """Generated tokens [B, gen_length] and ``order`` [B, gen_length]: the decoding step at which
    each position was committed (ARM: its index; MDM: the sampler step), so that positions can be
    scored or masked in the order the sampler unmasked them."""

    tokens: torch.Tensor
    order: torch.Tensor


# ----------------------------------------------------------------------------- shared helpers
def _check_at_least_one(name: str, value: int) -> None:
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")


def _prepare(input_ids: torch.Tensor, attention_mask: torch.Tensor | None, gen_length: int,
             fill: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The prompt followed by ``gen_length`` copies of ``fill``, attended to (mask 1)."""
    _check_at_least_one("gen_length", gen_length)
    if input_ids.dim() != 2:
        raise ValueError(f"input_ids must be [batch, prompt_length], got shape {tuple(input_ids.shape)}")
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    if attention_mask.shape != input_ids.shape:
        raise ValueError(f"attention_mask shape {tuple(attention_mask.shape)} differs from "
                         f"input_ids shape {tuple(input_ids.shape)}")
    batch = input_ids.shape[0]
    ids = torch.cat([input_ids, input_ids.new_full((batch, gen_length), fill)], dim=1)
    mask = torch.cat([attention_mask, attention_mask.new_ones((batch, gen_length))], dim=1)
    return ids, mask


def _mask_token_id(adapter: "ModelAdapter") -> int:
    if adapter.mask_token_id is None:
        raise ValueError(f"{type(adapter).__name__} has no mask_token_id; a masked diffusion "
                         "sampler needs one")
    return int(adapter.mask_token_id)


def _generated_logits(adapter: "ModelAdapter", ids: torch.Tensor, mask: torch.Tensor,
                      prompt_length: int, mask_token_id: int, dtype: torch.dtype) -> torch.Tensor:
    """Aligned logits of the generated positions [B, G, V], with [MASK] never predicted: a
    committed [MASK] would leave the position masked with no token to report."""
    batch, length = ids.shape
    rows = torch.arange(batch).repeat_interleave(length - prompt_length)
    positions = torch.arange(prompt_length, length).repeat(batch)
    logits = adapter.logits_at(ids, mask, rows, positions).view(batch, length - prompt_length, -1).to(dtype)
    return logits.index_fill(-1, torch.tensor([mask_token_id], device=logits.device), float("-inf"))


def _per_row(generator: Generators, batch: int, rows: torch.Tensor | None) -> list[tuple[torch.Generator, bool]] | None:
    """None for one generator (or none) for the batch; else each row's generator and whether the
    row draws this step (``rows`` [B] bool, all when None)."""
    if generator is None or isinstance(generator, torch.Generator):
        return None
    if len(generator) != batch:
        raise ValueError(f"{len(generator)} per-row generators for a batch of {batch} rows")
    return list(zip(generator, [True] * batch if rows is None else rows.tolist()))


def _rand(shape: torch.Size, generator: Generators, device: torch.device,
          dtype: torch.dtype = torch.float32, rows: torch.Tensor | None = None) -> torch.Tensor:
    """Uniform draws of ``shape``; with one generator per row, row b's from generator b, and
    only for the ``rows`` [B] (bool) that use them this step (zeros elsewhere), so that what a
    row draws never depends on what the other rows of its batch do."""
    per_row = _per_row(generator, shape[0], rows)
    if per_row is None:
        return torch.rand(shape, generator=generator, device=device, dtype=dtype)
    return torch.stack([torch.rand(shape[1:], generator=g, dtype=dtype) if on else torch.zeros(shape[1:], dtype=dtype)
                        for g, on in per_row]).to(device)


def _multinomial(probs: torch.Tensor, generator: Generators, rows: torch.Tensor | None = None) -> torch.Tensor:
    """One token per position drawn from ``probs`` [B, L, V]; per-row generators and ``rows``
    as ``_rand`` (an inactive row gets its argmax, unused by the caller)."""
    per_row = _per_row(generator, probs.shape[0], rows)
    if per_row is None:
        flat = probs.reshape(-1, probs.shape[-1])
        return torch.multinomial(flat, 1, generator=generator).view(probs.shape[:-1])
    return torch.stack([torch.multinomial(p.cpu(), 1, generator=g).squeeze(-1) if on else p.argmax(dim=-1).cpu()
                        for p, (g, on) in zip(probs, per_row)]).to(probs.device)


def _gumbel(shape: torch.Size, generator: Generators, device: torch.device,
            rows: torch.Tensor | None = None) -> torch.Tensor:
    uniform = _rand(shape, generator, device, torch.float64, rows)
    return -torch.log(-torch.log(uniform.clamp_min(torch.finfo(torch.float64).tiny)))


def _top_k(scores: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Boolean [B, G]: the ``k[b]`` highest scores of each row (ties: leftmost first, so the
    choice is deterministic)."""
    ranks = scores.argsort(dim=-1, descending=True, stable=True).argsort(dim=-1)
    return ranks < k.unsqueeze(-1)


def _even_split(total: int, parts: int) -> list[int]:
    """``total`` spread over ``parts`` as evenly as possible, the larger shares first
    (LLaDA's linear schedule: the same expected number of tokens at every step)."""
    base, remainder = divmod(total, parts)
    return [base + 1] * remainder + [base] * (parts - remainder)


# ----------------------------------------------------------------------------- ARM
@torch.no_grad()
def arm_greedy(adapter: "ModelAdapter", input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
               gen_length: int, **_) -> GenerationResult:
    """Greedy left-to-right decoding of exactly ``gen_length`` tokens (no early stop at EOS)."""
    if getattr(adapter, "shift", 1) != 1:
        raise ValueError("arm_greedy needs a next-token model (shift 1)")
    prompt_length = input_ids.shape[1]
    ids, mask = _prepare(input_ids, attention_mask, gen_length, adapter.pad_token_id)
    for j in range(gen_length):
        end = prompt_length + j
        # Recomputed from scratch each step (no KV cache): the models decoded here are small.
        rows = torch.arange(ids.shape[0])
        next_logits = adapter.logits_at(ids[:, :end], mask[:, :end], rows, torch.full_like(rows, end))
        ids[:, end] = next_logits.argmax(dim=-1)
    order = torch.arange(gen_length, device=ids.device).expand(ids.shape[0], -1).clone()
    return GenerationResult(tokens=ids[:, prompt_length:], order=order)


# ----------------------------------------------------------------------------- LLaDA
@torch.no_grad()
def llada_sample(adapter: "ModelAdapter", input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
                 gen_length: int, steps: int, block_length: int | None = None,
                 remasking: LLaDARemasking = "low_confidence", temperature: float = 0.0,
                 generator: Generators = None) -> GenerationResult:
    """LLaDA's sampler: blocks of ``block_length`` masks decoded left to right, ``steps`` split
    evenly over blocks; each step commits the most confident masks of the current block
    (confidence: softmax prob of the predicted token, or uniform random for ``random``)."""
    _check_at_least_one("gen_length", gen_length)
    _check_at_least_one("steps", steps)
    block_length = gen_length if block_length is None else block_length
    if block_length < 1 or gen_length % block_length:
        raise ValueError(f"block_length {block_length} must divide gen_length {gen_length}")
    num_blocks = gen_length // block_length
    if steps % num_blocks:
        raise ValueError(f"steps {steps} must be divisible by the number of blocks {num_blocks} "
                         f"(gen_length {gen_length} / block_length {block_length})")
    if remasking not in LLADA_REMASKING:
        raise ValueError(f"unknown remasking {remasking!r}; choose from {LLADA_REMASKING}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    mask_id = _mask_token_id(adapter)
    prompt_length = input_ids.shape[1]
    ids, mask = _prepare(input_ids, attention_mask, gen_length, mask_id)
    batch, device = ids.shape[0], ids.device
    generated = ids[:, prompt_length:]  # a view: commits below write into ids
    masked = torch.ones(batch, gen_length, dtype=torch.bool, device=device)
    order = torch.full((batch, gen_length), -1, dtype=torch.long, device=device)
    steps_per_block = steps // num_blocks
    # Every row starts a block with all of its positions masked, so one schedule serves all rows.
    schedule = _even_split(block_length, steps_per_block)

    for block in range(num_blocks):
        in_block = torch.zeros(gen_length, dtype=torch.bool, device=device)
        in_block[block * block_length:(block + 1) * block_length] = True
        for i, count in enumerate(schedule):
            if count == 0:  # more steps than masks: nothing to commit, skip the forward pass
                continue
            # float64 as in LLaDA: low-precision Gumbel-max hurts generation quality.
            logits = _generated_logits(adapter, ids, mask, prompt_length, mask_id, torch.float64)
            noisy = logits if temperature == 0 else \
                logits + temperature * _gumbel(logits.shape, generator, device)
            predicted = noisy.argmax(dim=-1)
            if remasking == "low_confidence":
                confidence = logits.softmax(dim=-1).gather(-1, predicted.unsqueeze(-1)).squeeze(-1)
            else:
                confidence = _rand(predicted.shape, generator, device, torch.float64)
            eligible = masked & in_block
            confidence = confidence.masked_fill(~eligible, float("-inf"))
            commit = _top_k(confidence, torch.full((batch,), count, device=device)) & eligible
            generated[commit] = predicted[commit]
            masked &= ~commit
            order[commit] = block * steps_per_block + i
    return GenerationResult(tokens=generated.clone(), order=order)


# ----------------------------------------------------------------------------- Dream
def _top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Drop the tokens outside the smallest set whose probability reaches ``top_p``."""
    sorted_logits, sorted_index = logits.sort(dim=-1, descending=True)
    sorted_probs = sorted_logits.softmax(dim=-1)
    # A token goes when the mass strictly before it already exceeds top_p (the top one stays).
    drop_sorted = sorted_probs.cumsum(dim=-1) - sorted_probs > top_p
    drop = torch.zeros_like(drop_sorted).scatter(-1, sorted_index, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def _dream_confidence(probs: torch.Tensor, predicted: torch.Tensor, alg: str) -> torch.Tensor:
    if alg == "maskgit_plus":
        return probs.gather(-1, predicted.unsqueeze(-1)).squeeze(-1)
    if alg == "topk_margin":
        top2 = probs.topk(2, dim=-1).values
        return top2[..., 0] - top2[..., 1]
    # entropy: the negative entropy, so the most certain position scores highest.
    return (probs * torch.log(probs + 1e-10)).sum(dim=-1)


@torch.no_grad()
def dream_sample(adapter: "ModelAdapter", input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
                 gen_length: int, steps: int, alg: DreamAlg = "origin", temperature: float = 0.0,
                 alg_temp: float | None = None, top_p: float | None = None,
                 generator: Generators = None, eps: float = 1e-3) -> GenerationResult:
    """Dream's diffusion_generate: time runs from 1 to ``eps`` in ``steps`` steps; ``origin``
    reveals each mask with probability 1 - s/t, the other algs reveal the scheduled number of
    masks, most confident first (top-1 prob, top1-top2 margin or negative entropy; sampled
    without replacement at ``alg_temp`` > 0). The last step reveals every remaining mask."""
    _check_at_least_one("gen_length", gen_length)
    _check_at_least_one("steps", steps)
    if alg not in DREAM_ALGS:
        raise ValueError(f"unknown alg {alg!r}; choose from {DREAM_ALGS}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if not 0 < eps < 1:
        raise ValueError(f"eps must be in (0, 1), got {eps}")
    mask_id = _mask_token_id(adapter)
    prompt_length = input_ids.shape[1]
    ids, mask = _prepare(input_ids, attention_mask, gen_length, mask_id)
    batch, device = ids.shape[0], ids.device
    generated = ids[:, prompt_length:]  # a view: commits below write into ids
    masked = torch.ones(batch, gen_length, dtype=torch.bool, device=device)
    order = torch.full((batch, gen_length), -1, dtype=torch.long, device=device)
    # float32, as Dream computes its transfer counts: int(num_masks * (1 - s / t)).
    timesteps = torch.linspace(1, eps, steps + 1, device=device)

    for i in range(steps):
        last = i == steps - 1
        t, s = timesteps[i], timesteps[i + 1]
        # Which masks (origin) or how many (the others) to reveal is known before the forward
        # pass, so steps that reveal nothing cost nothing. Counts are per row: Dream's own code
        # pools them over the batch, which only matches it at batch size 1.
        reveal: torch.Tensor | None = None  # known now for origin and the last step
        if alg == "origin":
            reveal_draw = _rand(masked.shape, generator, device)
            reveal = masked.clone() if last else masked & (reveal_draw < 1 - s / t)
            if not reveal.any():
                continue
        else:
            num_masked = masked.sum(dim=-1)
            count = num_masked if last else (num_masked * (1 - s / t)).long()
            if not (count > 0).any():
                continue
            if last:
                reveal = masked.clone()

        # The rows that commit a token this step: only they draw (a row alone in its batch skips
        # the steps it commits nothing in, so with per-row generators it must draw the same there).
        active = reveal.any(dim=-1) if reveal is not None else count > 0
        logits = _generated_logits(adapter, ids, mask, prompt_length, mask_id, torch.float32)
        if temperature > 0:
            logits = logits / temperature
        if top_p is not None and top_p < 1:
            logits = _top_p_filter(logits, top_p)
        probs = logits.softmax(dim=-1)
        if temperature > 0:
            predicted = _multinomial(probs, generator, active)
        else:
            predicted = probs.argmax(dim=-1)

        if reveal is None:
            confidence = _dream_confidence(probs, predicted, alg).double()
            if alg_temp:
                # Gumbel-top-k = sampling without replacement from softmax(confidence / alg_temp).
                confidence = confidence / alg_temp + _gumbel(confidence.shape, generator, device, active)
            confidence = confidence.masked_fill(~masked, float("-inf"))
            reveal = _top_k(confidence, count) & masked
        generated[reveal] = predicted[reveal]
        masked &= ~reveal
        order[reveal] = i
    return GenerationResult(tokens=generated.clone(), order=order)


# ----------------------------------------------------------------------------- dispatch
Decoder = Callable[..., GenerationResult]
DECODERS: dict[str, Decoder] = {"arm_greedy": arm_greedy, "llada": llada_sample, "dream": dream_sample}


def decoder_options(decoder: Decoder) -> list[str]:
    """The keyword options a decoder takes beyond (adapter, input_ids, attention_mask, gen_length)."""
    params = list(inspect.signature(decoder).parameters.values())[4:]
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def generate(adapter: "ModelAdapter", input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
             gen_length: int, steps_ratio: float | None = None, **decoder_kwargs) -> GenerationResult:
    """Decode with the adapter's own sampler (``adapter.decoder``); MDM ``steps`` default to
    ``gen_length``, or to ceil(``steps_ratio`` x gen_length) (at least 1) when that is given.
    An option the sampler does not take raises TypeError."""
    name = adapter.decoder
    if name not in DECODERS:
        raise ValueError(f"{type(adapter).__name__}.decoder is {name!r}; known decoders: {sorted(DECODERS)}")
    decoder = DECODERS[name]
    options = decoder_options(decoder)
    takes = options + (["steps_ratio"] if "steps" in options else [])
    given = set(decoder_kwargs) | ({"steps_ratio"} if steps_ratio is not None else set())
    unknown = sorted(given - set(takes))
    if unknown:
        raise TypeError(f"decoder {name!r} got unknown option(s) {', '.join(map(repr, unknown))}; "
                        f"it takes: {', '.join(takes) or 'none'}")
    if steps_ratio is not None:
        if steps_ratio <= 0 or "steps" in decoder_kwargs:
            raise ValueError(f"steps_ratio must be positive and not given with steps; got steps_ratio="
                             f"{steps_ratio}, steps={decoder_kwargs.get('steps')}")
        decoder_kwargs["steps"] = max(1, math.ceil(steps_ratio * gen_length))
    if "steps" in options:
        decoder_kwargs.setdefault("steps", gen_length)
    return decoder(adapter, input_ids, attention_mask, gen_length, **decoder_kwargs)


__all__ = ["GenerationResult", "arm_greedy", "llada_sample", "dream_sample", "DECODERS",
           "decoder_options", "generate"]
