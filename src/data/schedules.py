"""Masking schedules: which target tokens an MDM edit sees revealed at each optimisation step.

``none`` is the direct port of ROME/MEMIT (only the fully masked state). The others visit
the partially unmasked states decoding passes through, with the loss on the tokens still
masked (the correction):

* ``study``: reveal k = step mod N gold tokens at random positions, resampled every step.
* ``uniform``: k uniform in 0..N-1 at random positions.
* ``sampler``: k = step mod N, the first k positions in the order the model's own sampler
  unmasks the gold object (so the states are the ones decoding actually visits).
"""
from __future__ import annotations

import random
from typing import Literal

ScheduleName = Literal["none", "study", "uniform", "sampler"]
SCHEDULES = ("none", "study", "uniform", "sampler")


def revealed_masks(schedule: ScheduleName, length: int, step: int, rng: random.Random, samples: int = 1,
                   order: list[int] | None = None) -> list[list[bool]]:
    """``samples`` reveal masks (True = gold token shown) for one edit at one step."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown masking schedule {schedule!r}; choose one of {SCHEDULES}")
    masks = []
    for s in range(samples):
        if schedule == "none" or length == 1:
            k = 0
        elif schedule == "uniform":
            k = rng.randrange(length)
        else:
            # Consecutive samples of one step start further along the cycle, so samples > 1
            # covers several k at once instead of repeating one.
            k = (step * samples + s) % length
        if schedule == "sampler":
            if order is None:
                raise ValueError("the 'sampler' schedule needs the model's unmasking order of the target")
            shown = set(order[:k])
        else:
            shown = set(rng.sample(range(length), k))
        masks.append([j in shown for j in range(length)])
    return masks


def forward_process(texts: list[list[int]], mask_id: int, rng: random.Random) -> list[list[int]]:
    """The MDM forward process on token id lists: each text draws a share t ~ U(0, 1) and each of
    its tokens is replaced by ``mask_id`` with probability t (the states an MDM is trained on
    and decodes through)."""
    out = []
    for ids in texts:
        t = rng.random()
        out.append([mask_id if rng.random() < t else i for i in ids])
    return out
