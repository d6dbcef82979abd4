"""Locate-then-edit: optimise a value shift at the subject's last token, then insert it into
the weights by a closed-form update whitened by the key second moment C (ROME, MEMIT).

With ``through_update`` (an option of ROME and MEMIT) the shift is instead optimised through
the updates it becomes: ``delta`` is split evenly over the method's insertion layers
(``through_layers``), and at each layer l the update
``(delta / L) (C_l^-1 k_l*)^T / (lambda + k_l*^T C_l^-1 k_l*)`` (``rank_one_factors``, keys of
the unedited network) acts at every position of every row during the optimisation. The key
side is fixed when a group starts, so the written updates are exactly the optimised ones.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import torch

from src.editing.cases import EditCase
from src.editing.hooks import LowRankPatch, RowPatch, ValueShift, applied
from src.editing.method import EditMethod
from src.editing.rank_one import Whitener, rank_one_factors
from src.editing.stats import cached_second_moment, check_states, texts_in_states


# The power of ||delta|| in the penalty ``weight_decay * ||delta||^power / ||v||^2``.
_DECAY_POWER = {"squared": 2, "rome": 1}


class ValueShiftMethod(EditMethod):
    """Each edit owns one row of ``delta``, added to ``shift_module``'s output at the subject."""

    def __init__(self, *args, weight_decay: float = 0.5, clamp_norm_factor: float = 4.0,
                 mom2_source: str | None = "corpus", mom2_samples: int = 2000, mom2_lambda: float = 0.0,
                 cache_dir: str | None = None, through_update: bool = False, mom2_dtype: str = "float64",
                 weight_decay_form: Literal["squared", "rome"] = "squared",
                 mom2_states: Literal["clean", "masked"] = "clean", **kwargs):
        """
        Args:
            weight_decay: weight of the penalty on ||delta|| (``weight_decay_form``).
            clamp_norm_factor: after each step, ||delta|| is clamped to this times ||v||.
            mom2_source: text for the key second moment C ("corpus" = the data module's text,
                a local text file, or null for identity as many ARM configs do).
            mom2_samples: number of texts used for C.
            mom2_lambda: MEMIT's regulariser lambda (0 = ROME's exact insertion).
            cache_dir: where C is cached (default: $MDM_EDIT_CACHE or ./.cache/mdm-edit).
            through_update: optimise the shift through the updates it becomes, at every position
                (the written edit is then exactly the optimised one), instead of as a shift at the
                subject's last token only.
            mom2_dtype: precision of C's Cholesky factor, kept per layer on the model's device
                (float32 halves its memory at 8B: d_ff^2 x 4 bytes, 1.4 GB at d_ff 18944).
            weight_decay_form: "squared" penalises ||delta||^2 / ||v||^2 (the fact-world configs'
                weight decays are tuned to it); "rome" penalises ||delta|| / ||v||^2, as ROME's and
                MEMIT's published code do, which at ||v|| >> 1 is far weaker.
            mom2_states: the states of ``mom2_source``'s texts C is read from: "clean", as ROME
                and MEMIT do, or for MDMs "masked" (``stats.texts_in_states``), so that C holds the
                keys at the [MASK] positions the edited model decodes through (on the fact
                world it moves efficacy by at most 2 points: README, "not kept").
        """
        super().__init__(*args, **kwargs)
        from src.factworld.build import cache_root

        check_states(mom2_states)  # before any C is read, as the CLI's Literal would
        if weight_decay_form not in _DECAY_POWER:
            # The Python API skips the CLI's Literal check; a typo must not fall back to a form silently.
            raise ValueError(f"weight_decay_form must be one of {sorted(_DECAY_POWER)}, got {weight_decay_form!r}")

        self.cache_dir = Path(cache_dir) if cache_dir else cache_root()
        self.delta = torch.nn.Parameter(torch.zeros(self.max_batch, self.shift_size()))
        self._second_moments: dict[int, Whitener | torch.Tensor | None] = {}

    # ------------------------------------------------------------------ subclass hooks
    def shift_module(self) -> torch.nn.Module:
        raise NotImplementedError

    def shift_size(self) -> int:
        return self.adapter.hidden_size

    def updates(self, cases: list[EditCase], targets: torch.Tensor) -> list[LowRankPatch]:
        """Weight updates (one patch per edited module) that realise ``targets`` per edit."""
        raise NotImplementedError

    def insertion_lambda(self) -> float:
        """The regulariser lambda of the closed-form insertion (0 = exact)."""
        return self.hparams.mom2_lambda

    def through_layers(self) -> list[int]:
        """Layers whose edit modules carry the shift with ``through_update``, in equal shares."""
        raise NotImplementedError(f"{type(self).__name__} has no through_update")

    # ------------------------------------------------------------------ EditMethod hooks
    def edit_parameters(self) -> list[torch.nn.Parameter]:
        return [self.delta]

    def start_group(self, cases: list[EditCase]) -> dict[str, Any]:
        self.delta.zero_()
        init = self._capture(self.shift_module(), [self._state_inputs(c, c.prompt) for c in cases], "output")
        state = {"init": init}
        if self.hparams.through_update:
            # rank_one_factors with a unit residual gives V = C^-1 k* / (lambda + k*^T C^-1 k*).
            # Every key is read in the unedited network: the optimisation itself sees how an
            # earlier layer's update moves a later layer's input.
            ones = torch.ones(len(cases), 1)
            state["key_maps"] = [rank_one_factors(self.keys(layer, cases), ones, self.second_moment(layer),
                                                  lam=self.insertion_lambda())[1]
                                 for layer in self.through_layers()]
        return state

    def _through(self, delta: torch.Tensor) -> list[LowRankPatch]:
        """The updates that ``delta`` [n, d] becomes with ``through_update``, one patch per layer."""
        layers = self.through_layers()
        share = delta[:, :, None] / len(layers)
        return [LowRankPatch(self.adapter.edit_module(layer), share, key_map)
                for layer, key_map in zip(layers, self._group["key_maps"])]

    @contextmanager
    def editing(self, n: int, edit_of_row: torch.Tensor, position: torch.Tensor):
        if self.hparams.through_update:
            with applied(self._through(self.delta[:n]), edit_of_row):
                yield
            return
        shift = ValueShift(self.shift_module(), self.delta, edit_of_row, position)
        try:
            yield
        finally:
            shift.remove()

    def penalty(self, n: int) -> torch.Tensor:
        init_norm = self._group["init"].norm(dim=-1)
        power = _DECAY_POWER[self.hparams.weight_decay_form]
        return self.hparams.weight_decay * self.delta[:n].norm(dim=-1) ** power / init_norm ** 2

    def project(self, n: int) -> None:
        radius = self.hparams.clamp_norm_factor * self._group["init"].norm(dim=-1)
        norm = self.delta[:n].norm(dim=-1)
        self.delta[:n] *= torch.where(norm > radius, radius / norm.clamp(min=1e-12), 1.0)[:, None]

    def final_patches(self, cases: list[EditCase]) -> list[RowPatch]:
        if self.hparams.through_update:
            return self._through(self.delta[:len(cases)].detach().clone())
        return self.updates(cases, self._group["init"] + self.delta[:len(cases)].detach())

    def change_norms(self, n: int) -> torch.Tensor:
        return self.delta[:n].detach().norm(dim=-1)

    # ------------------------------------------------------------------ keys and their statistics
    def second_moment(self, layer: int) -> Whitener | torch.Tensor | None:
        """C of ``layer`` as its factor (``rank_one.whiten`` takes either), or None for identity."""
        if layer not in self._second_moments:
            source = self.hparams.mom2_source
            if source is None:
                self._second_moments[layer] = None
            else:
                texts = self.trainer.datamodule.corpus_ids(source, self.hparams.mom2_samples, self.tokenizer)
                texts, source = texts_in_states(self.adapter, texts, source, self.hparams.mom2_states)
                moment = cached_second_moment(self.adapter, self.model_dir, layer, source, texts, self.cache_dir)
                self._second_moments[layer] = Whitener(moment, next(self.adapter.parameters()).device,
                                                       getattr(torch, self.hparams.mom2_dtype))
        return self._second_moments[layer]

    def keys(self, layer: int, cases: list[EditCase], patches: list[RowPatch] = ()) -> torch.Tensor:
        """Key k* per edit at ``layer``: the edit site's input at the subject's last token,
        averaged over the context prefixes, under any updates already in ``patches``."""
        rows, owner = self._context_rows(cases)
        k = self._capture(self.adapter.edit_module(layer), rows, "input", owner, patches)
        total = k.new_zeros(len(cases), k.shape[1]).index_add(0, owner.to(k.device), k)
        return total / torch.bincount(owner)[:, None].to(k)

    @torch.no_grad()
    def context_keys(self, layer: int, cases: list[EditCase]) -> list[torch.Tensor]:
        """Per edit, the inputs of ``layer``'s edit site at every position of its context rows
        (as ``keys`` reads them) except the subject's last token, [m, d_in]."""
        rows, owner = self._context_rows(cases)
        ids, mask, pos = self._padded(rows)
        seen: list[torch.Tensor] = []
        handle = self.adapter.edit_module(layer).register_forward_hook(lambda m, i, o: seen.append(i[0].detach()))
        try:
            self.adapter(ids, mask)
        finally:
            handle.remove()
        other = mask.bool() & (torch.arange(ids.shape[1])[None] != pos[:, None])
        inputs, other, owner = seen[0], other.to(seen[0].device), owner.to(seen[0].device)
        return [inputs[owner == e][other[owner == e]] for e in range(len(cases))]

    def _context_rows(self, cases: list[EditCase]) -> tuple[list[tuple[list[int], int]], torch.Tensor]:
        """Every edit's prompt after each context prefix, as keys are read, and the edit of each row."""
        rows, owner = [], []
        for e, c in enumerate(cases):
            rows += [self._state_inputs(c, p) for p in c.contexts]
            owner += [e] * len(c.contexts)
        return rows, torch.tensor(owner)
