"""The shared life of an edit: optimise a value shift for a batch of independent edits,
turn it into a closed-form weight update, and measure it with the model's own decoder.

A batch from ``EditDataModule`` is one optimisation step of one group of B edits; the
group's last step carries ``final=True``. Each edit owns one row of ``delta``, its loss is
summed (not averaged) over the group, and Adam is element-wise, so an edit's trajectory
does not depend on which edits share its batch. Subclasses say where the shift is added
(``shift_module``) and how the optimised shift becomes weight updates (``updates``).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F

from src.editing.cases import EditCase
from src.editing.hooks import LowRankPatch, ValueShift, patched
from src.editing.stats import cached_second_moment
from src.evaluation.exact_match import exact_match
from src.models import load_model, load_tokenizer
from src.models.padding import left_pad


class EditMethod(L.LightningModule):
    """Base of the locate-then-edit methods (ROME, MEMIT)."""

    def __init__(self, model_path: str, layers: list[int], lr: float = 0.1, kl_factor: float = 0.0625,
                 weight_decay: float = 0.5, clamp_norm_factor: float = 4.0, early_stop_loss: float = 0.05,
                 mom2_source: str | None = "corpus", mom2_samples: int = 2000, mom2_lambda: float = 0.0,
                 max_batch: int = 64, sequential: bool = False, decoder: dict[str, Any] | None = None,
                 cache_dir: str | None = None):
        """
        Args:
            model_path: checkpoint folder in the family's own format, or ``factworld:<family>``.
            layers: edit layers (ROME: one; MEMIT: the window, ascending).
            lr: Adam learning rate of the value shift (scale with the hidden-state norm).
            kl_factor: weight of KL(original || edited) on the "{subject} is a" prompt.
            weight_decay: weight of ||delta||^2 / ||v||^2.
            clamp_norm_factor: after each step, ||delta|| is clamped to this times ||v||.
            early_stop_loss: an edit stops optimising once its loss is below this.
            mom2_source: text for the key second moment C ("corpus" = the data module's text,
                a local text file, or null for identity as many ARM configs do).
            mom2_samples: number of texts used for C.
            mom2_lambda: MEMIT's regulariser lambda (0 = ROME's exact insertion).
            max_batch: most edits optimised together (rows of the value shift).
            sequential: keep each edit in the weights for the next ones (default: independent).
            decoder: options of the family's own sampler for evaluation (MDM steps default to N).
            cache_dir: where C is cached (default: $MDM_EDIT_CACHE or ./.cache/mdm-edit).
        """
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        from src.factworld.build import cache_root, resolve_model_path

        self.model_dir = str(resolve_model_path(model_path))
        self.adapter = load_model(self.model_dir)
        self.tokenizer = load_tokenizer(self.model_dir)
        self.adapter.requires_grad_(False)
        if max(layers) >= self.adapter.num_layers or min(layers) < 0:
            raise ValueError(f"layers={layers}: the model has layers 0..{self.adapter.num_layers - 1}")
        self.layers = list(layers)
        self.decoder_options = dict(decoder or {})
        self.cache_dir = Path(cache_dir) if cache_dir else cache_root()
        self.delta = torch.nn.Parameter(torch.zeros(max_batch, self.shift_size()))
        self._second_moments: dict[int, torch.Tensor | None] = {}
        self._group: dict[str, Any] | None = None

    # ------------------------------------------------------------------ subclass hooks
    def shift_module(self) -> torch.nn.Module:
        raise NotImplementedError

    def shift_size(self) -> int:
        return self.adapter.hidden_size

    def updates(self, cases: list[EditCase], targets: torch.Tensor) -> list[LowRankPatch]:
        """Weight updates (one patch per edited module) that realise ``targets`` per edit."""
        raise NotImplementedError

    # ------------------------------------------------------------------ optimisation
    def configure_optimizers(self):
        return torch.optim.Adam([self.delta], lr=self.hparams.lr)

    def second_moment(self, layer: int) -> torch.Tensor | None:
        if layer not in self._second_moments:
            source = self.hparams.mom2_source
            if source is None:
                self._second_moments[layer] = None
            else:
                texts = self.trainer.datamodule.corpus_ids(source, self.hparams.mom2_samples, self.tokenizer)
                self._second_moments[layer] = cached_second_moment(
                    self.adapter, self.model_dir, layer, source, texts, self.cache_dir)
        return self._second_moments[layer]

    def training_step(self, batch: dict[str, Any], batch_idx: int):
        cases: list[EditCase] = batch["cases"]
        if not cases:
            return None
        if self._group is None or self._group["id"] != batch["batch_id"]:
            self._begin(batch["batch_id"], cases)
        group = self._group
        try:
            if group["error"] is None and not group["stopped"].all():
                self._optimise(cases, batch["revealed"])
            outcomes = self._finish(cases, group) if batch["final"] and group["error"] is None else None
        except Exception as err:  # one bad edit group must not end a long run
            group["error"] = f"{type(err).__name__}: {err}"
            outcomes = None
        if not batch["final"]:
            return None
        self._group = None
        return {"outcomes": outcomes if outcomes is not None else self._failed(cases, group)}

    def _record(self, case: EditCase, group: dict[str, Any], e: int, **fields) -> dict[str, Any]:
        trace = group["trace"][e]
        return {"case_id": case.request.case_id, "request": case.request.to_dict(), "method": type(self).__name__,
                "family": self.adapter.family, "layers": self.layers, "target_length": case.length,
                "loss_trace": trace, "steps": len(trace), "final_loss": trace[-1] if trace else None,
                "rank": self.global_rank, **fields}

    def _failed(self, cases: list[EditCase], group: dict[str, Any]) -> list[dict[str, Any]]:
        return [self._record(c, group, e, status="failed", reason=group["error"]) for e, c in enumerate(cases)]

    def _begin(self, batch_id: int, cases: list[EditCase]) -> None:
        n = len(cases)
        if n > self.delta.shape[0]:
            raise ValueError(f"a batch of {n} edits exceeds max_batch={self.delta.shape[0]}")
        with torch.no_grad():
            self.delta.zero_()
            init = self._capture(self.shift_module(), [self._state_inputs(c, c.prompt) for c in cases], "output")
            ref = self._essence_logprobs(cases)
        self.optimizers().optimizer.state.clear()
        self._group = {"id": batch_id, "init": init, "ref_logprobs": ref, "start": time.time(),
                       "stopped": torch.zeros(n, dtype=torch.bool), "trace": [[] for _ in cases], "error": None}

    def _state_inputs(self, case: EditCase, prompt) -> tuple[list[int], int]:
        """The prompt as the edit's keys and values are read: MDMs see [MASK]s where the
        target will go, the fully masked state every decoding starts from."""
        ids, _ = self.adapter.target_inputs(prompt.ids, case.target_ids)
        return ids, prompt.subject_last

    def keys(self, layer: int, cases: list[EditCase], patches: list[LowRankPatch] = ()) -> torch.Tensor:
        """Key k* per edit at ``layer``: the edit site's input at the subject's last token,
        averaged over the context prefixes, under any updates already in ``patches``."""
        rows, owner = [], []
        for e, c in enumerate(cases):
            rows += [self._state_inputs(c, p) for p in c.contexts]
            owner += [e] * len(c.contexts)
        owner = torch.tensor(owner)
        k = self._capture(self.adapter.edit_module(layer), rows, "input", owner, patches)
        return torch.zeros(len(cases), k.shape[1]).index_add(0, owner, k) / torch.bincount(owner)[:, None]

    def _capture(self, module: torch.nn.Module, rows: list[tuple[list[int], int]], what: str,
                 group_of_row: torch.Tensor | None = None, patches: list[LowRankPatch] = ()) -> torch.Tensor:
        """Input or output of ``module`` at one position per row, [R, d]."""
        ids, mask, pos = self._padded(rows)
        seen: list[torch.Tensor] = []

        def hook(m, inputs, output):
            tensor = inputs[0] if what == "input" else (output[0] if isinstance(output, tuple) else output)
            seen.append(tensor[torch.arange(len(rows)), pos].detach())

        handle = module.register_forward_hook(hook)
        try:
            with patched(list(patches), group_of_row):
                self.adapter(ids, mask)
        finally:
            handle.remove()
        return seen[0]

    def _padded(self, rows: list[tuple[list[int], int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Left-pads (ids, position) rows; positions move right by each row's padding."""
        ids, mask = left_pad([r[0] for r in rows], self.adapter.pad_token_id)
        return ids, mask, torch.tensor([ids.shape[1] - len(r[0]) + r[1] for r in rows])

    def _essence_logprobs(self, cases: list[EditCase]) -> torch.Tensor:
        rows = [self.adapter.query_inputs(c.essence.ids) for c in cases]
        ids, mask, pos = self._padded(rows)
        logits = self.adapter.token_logits(ids, mask)[torch.arange(len(rows)), pos]
        return F.log_softmax(logits.float(), dim=-1)

    def _optimise(self, cases: list[EditCase], revealed: list[list[list[bool] | None]]) -> None:
        group = self._group
        n = len(cases)
        rows, edit_of_row, shift_pos, sup_pos, labels = [], [], [], [], []
        for e, case in enumerate(cases):
            for prompt in case.contexts:
                for reveal in revealed[e]:
                    ids, positions = self.adapter.target_inputs(prompt.ids, case.target_ids, reveal)
                    start = len(prompt.ids)
                    rows.append(ids)
                    edit_of_row.append(e)
                    shift_pos.append(prompt.subject_last)
                    sup_pos.append(positions)
                    labels.append([case.target_ids[p - start] for p in positions])
        # The essence rows share the forward pass: their shift sits at the subject as well.
        essence = [self.adapter.query_inputs(c.essence.ids) for c in cases]
        all_rows = rows + [r[0] for r in essence]
        ids, mask = left_pad(all_rows, self.adapter.pad_token_id)
        pad = torch.tensor([ids.shape[1] - len(r) for r in all_rows])
        edit_idx = torch.tensor(edit_of_row + list(range(n)))
        at = pad + torch.tensor(shift_pos + [c.essence.subject_last for c in cases])
        shift = ValueShift(self.shift_module(), self.delta, edit_idx, at)
        try:
            logp = F.log_softmax(self.adapter.token_logits(ids, mask).float(), dim=-1)
        finally:
            shift.remove()

        nll = torch.zeros(n)
        count = torch.zeros(n)
        for r, (positions, labs) in enumerate(zip(sup_pos, labels)):
            p = torch.tensor(positions) + pad[r]
            row_nll = -logp[r, p, torch.tensor(labs)].mean()
            nll = nll.index_add(0, torch.tensor([edit_of_row[r]]), row_nll[None])
            count[edit_of_row[r]] += 1
        nll = nll / count
        query = pad[len(rows):] + torch.tensor([r[1] for r in essence])
        edited = logp[len(rows) + torch.arange(n), query]
        ref = group["ref_logprobs"]
        kl = (ref.exp() * (ref - edited)).sum(-1)
        init_norm = group["init"].norm(dim=-1)
        decay = self.delta[:n].norm(dim=-1) ** 2 / init_norm ** 2
        loss = nll + self.hparams.kl_factor * kl + self.hparams.weight_decay * decay

        active = ~group["stopped"]
        for e in range(n):
            group["trace"][e].append(float(loss[e].detach()) if active[e] else group["trace"][e][-1])
        opt = self.optimizers()
        opt.zero_grad()
        self.manual_backward(loss[active].sum())
        keep = self.delta.detach()[:n][~active].clone()
        opt.step()
        with torch.no_grad():
            # Adam's momentum would keep moving a stopped edit: put it back.
            self.delta[:n][~active] = keep
            radius = self.hparams.clamp_norm_factor * init_norm
            norm = self.delta[:n].norm(dim=-1)
            self.delta[:n] *= torch.where(norm > radius, radius / norm.clamp(min=1e-12), 1.0)[:, None]
        group["stopped"] |= (loss.detach() < self.hparams.early_stop_loss)
        self.log("edit/loss", loss.detach().mean(), prog_bar=True, batch_size=n)

    # ------------------------------------------------------------------ closing an edit group
    @torch.no_grad()
    def _finish(self, cases: list[EditCase], group: dict[str, Any]) -> list[dict[str, Any]]:
        n = len(cases)
        targets = group["init"] + self.delta[:n].detach()
        patches = self.updates(cases, targets)
        try:
            scores = self.evaluate(cases, patches)
            if self.hparams.sequential:
                for e in range(n):
                    for patch in patches:
                        patch.merge(e)
        finally:
            for patch in patches:
                patch.remove()
        elapsed = (time.time() - group["start"]) / n
        return [self._record(c, group, e, status="ok", reason=None, delta_norm=float(self.delta[e].norm()),
                             time_s=elapsed, **scores[e]) for e, c in enumerate(cases)]

    def evaluate(self, cases: list[EditCase], patches: list[LowRankPatch]) -> list[dict[str, Any]]:
        """Exact match with the model's own decoder, each row against its own edit's update:
        efficacy (edit prompt, new object), generalisation (paraphrases, new object),
        specificity (other subjects keep their true objects)."""
        prompts, objects, owner, kind = [], [], [], []
        for e, c in enumerate(cases):
            for ids, obj, k in ([(c.prompt.ids, c.target_ids, "efficacy")]
                                + [(p, c.target_ids, "generalisation") for p in c.paraphrases]
                                + [(p, t, "specificity") for p, t in zip(c.neighbours, c.neighbour_targets)]):
                prompts.append(ids), objects.append(obj), owner.append(e), kind.append(k)
        hits = [False] * len(prompts)
        generated: list[list[int]] = [[] for _ in prompts]
        # The decoder runs one target length at a time; rows keep their edit's update.
        for length in sorted({len(o) for o in objects}):
            idx = [i for i, o in enumerate(objects) if len(o) == length]
            with patched(patches, torch.tensor([owner[i] for i in idx])):
                # One decoder batch: the patch's row binding covers exactly these rows.
                ok, gen = exact_match(self.adapter, [prompts[i] for i in idx], [objects[i] for i in idx],
                                      self.decoder_options, batch_size=len(idx))
            for j, i in enumerate(idx):
                hits[i], generated[i] = ok[j], gen[j]
        scores = []
        for e, c in enumerate(cases):
            mine = [i for i in range(len(prompts)) if owner[i] == e]
            by_kind = {k: [hits[i] for i in mine if kind[i] == k] for k in ("efficacy", "generalisation", "specificity")}
            first = mine[0]
            scores.append({
                "efficacy": float(by_kind["efficacy"][0]),
                "generalisation": sum(by_kind["generalisation"]) / len(by_kind["generalisation"]) if by_kind["generalisation"] else None,
                "specificity": sum(by_kind["specificity"]) / len(by_kind["specificity"]) if by_kind["specificity"] else None,
                "generated": self.tokenizer.decode(generated[first]).strip(),
            })
        return scores
