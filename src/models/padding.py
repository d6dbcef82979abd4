"""Batching prompts of different lengths for the decoders and the adapters' forward pass."""
from __future__ import annotations

from typing import Sequence

import torch


def left_pad(sequences: Sequence[Sequence[int]], pad_id: int,
             device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad token id lists into ``(input_ids, attention_mask)``, both long [B, P].

    Left padding keeps every prompt's last token in the last column, so generated tokens
    can be appended on the right for the whole batch; ``attention_mask`` is 0 on pads.
    """
    if len(sequences) == 0:
        raise ValueError("left_pad: got no sequences; a batch needs at least one")
    width = max(len(seq) for seq in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        if len(seq):
            input_ids[row, width - len(seq):] = torch.as_tensor(list(seq), dtype=torch.long)
            attention_mask[row, width - len(seq):] = 1
    return input_ids.to(device), attention_mask.to(device)
