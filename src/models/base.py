"""The one interface the editing, tracing and evaluation code sees for every model family.

A family differs in four ways only, and each is a class attribute or one method here:
``kind`` (autoregressive or masked diffusion), ``shift`` (whether position i's logits
predict token i or token i+1), where the MLP down-projection of a layer lives
(``edit_module_template``), and how a checkpoint folder is read and written.
"""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

import torch
from torch import nn


class ModelAdapter(nn.Module):
    """Wraps one network of a family behind a uniform interface.

    Subclasses set the class attributes and implement ``_network_logits``, ``save`` and
    ``load``; everything else (target objective, edit sites, decoding) is shared.
    """

    family: ClassVar[str]
    kind: ClassVar[Literal["arm", "mdm"]]
    # 1 when the logits at position i are the distribution of token i+1 (ARMs, Dream).
    shift: ClassVar[int]
    # Dotted module paths with "{}" for the layer index, as in ROME's hparams.
    edit_module_template: ClassVar[str]
    layer_module_template: ClassVar[str]
    mlp_module_template: ClassVar[str]
    attn_module_template: ClassVar[str]
    embed_module_name: ClassVar[str]
    # The output projection (its input is the final hidden state); absent when the head is tied.
    head_module_name: ClassVar[str]
    # logits_at applies the head at the requested positions only (False: at every position, then
    # indexes; kept so bench.scale can measure both in one run).
    head_at_positions: ClassVar[bool] = True
    # Name of this family's own sampler in ``src.models.decoding.DECODERS``.
    decoder: ClassVar[str]

    def __init__(self, network: nn.Module, num_layers: int, hidden_size: int, vocab_size: int,
                 mask_token_id: int | None, pad_token_id: int, eos_token_id: int | None):
        super().__init__()
        self.network = network
        self.num_layers = num_layers
        self.hidden_size = hidden_size
        self.vocab_size = vocab_size
        self.mask_token_id = mask_token_id
        self.pad_token_id = pad_token_id
        self.eos_token_id = eos_token_id
        if self.kind == "mdm" and mask_token_id is None:
            raise ValueError(f"{type(self).__name__}: a masked diffusion model needs mask_token_id")

    # ----------------------------------------------------------------- network calls
    def _network_logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                        position_ids: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Raw head logits [B, L, V]. Rows may be left-padded (``attention_mask`` 0 on pads):
        positions are counted from each row's first real token so padding changes nothing."""
        # Callers build ids on the CPU; the network may sit on an accelerator.
        device = next(self.parameters()).device
        input_ids = input_ids.to(device)
        attention_mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask.to(device)
        position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        return self._network_logits(input_ids, attention_mask, position_ids)

    def token_logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits aligned so that ``[:, i]`` is the model's distribution of the token at position i.

        For shifted families position 0 has no prediction and is filled with zeros.
        """
        logits = self(input_ids, attention_mask)
        if self.shift:
            logits = torch.cat([torch.zeros_like(logits[:, :1]), logits[:, :-1]], dim=1)
        return logits

    def logits_at(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
                  rows: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """``token_logits(input_ids, attention_mask)[rows, positions]``, [T, V], with the output
        head applied at those T positions only: at 8B the head over every position of a batch
        holds [B, L, 126k-152k] logits (and their gradient) where a loss or a decoder reads a few.
        For shifted families a position may be one past the end (the next token)."""
        read = positions - self.shift
        if bool((read < 0).any()):
            raise ValueError("logits_at: position 0 has no prediction in a shifted family")
        head = self._head()
        if head is None or not self.head_at_positions:
            logits = self(input_ids, attention_mask)
            return logits[rows.to(logits.device), read.to(logits.device)]

        def gather(module, args):
            hidden = args[0]
            return (hidden[rows.to(hidden.device), read.to(hidden.device)],)

        handle = head.register_forward_pre_hook(gather)
        try:
            return self(input_ids, attention_mask)
        finally:
            handle.remove()

    def _head(self) -> nn.Module | None:
        try:
            return self.network.get_submodule(self.head_module_name)
        except AttributeError:  # tied: the embedding matrix is the head, there is no module
            return None

    # ----------------------------------------------------------------- edit sites
    def module(self, template: str, layer: int | None = None) -> nn.Module:
        return self.network.get_submodule(template.format(layer) if layer is not None else template)

    def edit_module(self, layer: int) -> nn.Linear:
        """The MLP down-projection of ``layer``: its input is the key, its output the value."""
        return self.module(self.edit_module_template, layer)

    def edit_module_name(self, layer: int) -> str:
        return self.edit_module_template.format(layer)

    # ----------------------------------------------------------------- target objective
    def target_inputs(self, prompt_ids: list[int], target_ids: list[int],
                      revealed: list[bool] | None = None) -> tuple[list[int], list[int]]:
        """Token ids to run and the positions whose token is supervised for ``target_ids``.

        ARMs are teacher-forced: every target token is supervised given the ones before it.
        MDMs see the prompt followed by the target where ``revealed`` is true and [MASK]
        elsewhere; only the still-masked positions are supervised (the fully masked state
        when ``revealed`` is None, the study's intermediate states otherwise).
        """
        start = len(prompt_ids)
        if self.kind == "arm":
            return list(prompt_ids) + list(target_ids), [start + j for j in range(len(target_ids))]
        revealed = revealed or [False] * len(target_ids)
        body = [t if r else self.mask_token_id for t, r in zip(target_ids, revealed)]
        return list(prompt_ids) + body, [start + j for j, r in enumerate(revealed) if not r]

    def query_inputs(self, prompt_ids: list[int]) -> tuple[list[int], int]:
        """Ids whose prediction at the returned position is the next token after the prompt
        (the KL "essence" term and single-token probabilities)."""
        # A placeholder target slot: an ARM cannot see it at its own position, an MDM sees [MASK].
        ids, positions = self.target_inputs(prompt_ids, [self.pad_token_id])
        return ids, positions[0]

    # ----------------------------------------------------------------- checkpoints
    def save(self, path: str | Path) -> None:
        raise NotImplementedError

    @classmethod
    def load(cls, path: str | Path, dtype: torch.dtype = torch.float32) -> "ModelAdapter":
        raise NotImplementedError
