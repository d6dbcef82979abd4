"""The shared life of an edit: optimise per-edit parameters for a batch of independent
edits, turn them into per-edit weight updates, and measure those with the model's own decoder.

A batch from ``EditDataModule`` is one optimisation step of one group of B edits; the
group's last step carries ``final=True``. Each edit owns one row of every optimised
parameter, its loss is summed (not averaged) over the group, and Adam is element-wise, so an
edit's trajectory does not depend on which edits share its batch. Subclasses say what is
optimised and how it acts during a forward pass (``edit_parameters``, ``start_group``,
``editing``), how it is kept in bounds (``penalty``, ``project``) and which per-row patches
realise it at the end (``final_patches``): value shifts inserted in closed form
(``shift.ValueShiftMethod``: ROME, MEMIT) or weight changes optimised directly
(``weight_edit.WeightEditMethod``: FT-L, LoRA).
"""
from __future__ import annotations

import time
from contextlib import AbstractContextManager
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F

from src.editing.cases import EditCase
from src.editing.hooks import RowPatch, patched
from src.editing.sites import edit_sites
from src.evaluation.exact_match import exact_match, row_seed
from src.models import load_model, load_tokenizer
from src.models.padding import left_pad
from src.options import require_at_least


MEASURES = ("efficacy", "generalisation", "specificity")


class EditMethod(L.LightningModule):
    """Base of the edit methods: the optimisation loop, the loss, early stop and evaluation."""

    def __init__(self, model_path: str, layers: list[int], lr: float = 0.1, kl_factor: float = 0.0625,
                 early_stop_loss: float = 0.05, max_batch: int = 64, sequential: bool = False,
                 decoder: dict[str, Any] | None = None, decoders: dict[str, dict[str, Any]] | None = None,
                 edit_sites: bool = False, dtype: str = "float32", decode_seeds: list[int] | None = None):
        """
        Args:
            model_path: checkpoint folder in the family's own format, or ``factworld:<family>``.
            layers: edit layers (ROME, FT-L, LoRA: one; MEMIT: the window, ascending).
            lr: Adam learning rate of the optimised parameters (scale with the hidden-state norm).
            kl_factor: weight of KL(original || edited) on the "{subject} is a" prompt.
            early_stop_loss: an edit stops optimising once its loss has stayed below this for N
                consecutive steps (N = its target length): a corrected MDM edit's loss drops
                first on states with most tokens revealed, and must not stop before the study's
                schedule has shown it every reveal count, the fully masked state included.
            max_batch: most edits optimised together (rows of the optimised parameters).
            sequential: keep each edit in the weights for the next ones (default: independent).
            decoder: options of the family's own sampler for evaluation (gen_length = N and MDM
                steps = gen_length by default; ``steps_ratio`` sets steps relative to gen_length,
                ``extra_length`` decodes that many positions past the object and requires
                end-of-text right after it).
            decoders: further named option sets, each measured on the same edits
                (records' ``decoders``, summary's ``per_decoder``).
            edit_sites: also score each edit with its update applied only at the subject's last
                token and everywhere but there (``src.editing.sites``; records' ``sites``,
                summary's ``per_site``).
            dtype: precision the network is loaded in (float32, bfloat16 or float16; the 8B
                checkpoints in bfloat16 take half the memory). Edit parameters stay float32.
            decode_seeds: seeds of the evaluation sampler's random draws (Dream's ``origin``
                reveal order, sampling at temperature > 0; the default [0]). Each prompt draws
                from its own generator, seeded from the seed, its edit's case_id and the prompt,
                so an edit decodes the same whatever shares its batch or ran before it; with
                several seeds every measure is the mean over that many decodes (an edit's
                efficacy then lies between 0 and 1).
        """
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        # Before the model loads: a bad option should not cost the load (minutes for 8B).
        if not layers:
            raise ValueError("--model.init_args.layers is empty: name at least one edit layer, e.g. [0]")
        require_at_least("--model.init_args.max_batch", max_batch, 1)
        self.decode_seeds = [0] if decode_seeds is None else list(decode_seeds)
        if not self.decode_seeds:
            raise ValueError("--model.init_args.decode_seeds is empty: give at least one seed, e.g. [0]")
        from src.factworld.build import resolve_model_path

        self.model_dir = str(resolve_model_path(model_path))
        self.adapter = load_model(self.model_dir, dtype=getattr(torch, dtype))
        self.tokenizer = load_tokenizer(self.model_dir)
        self.adapter.requires_grad_(False)
        if max(layers) >= self.adapter.num_layers or min(layers) < 0:
            raise ValueError(f"--model.init_args.layers {list(layers)}: the model has layers "
                             f"0..{self.adapter.num_layers - 1}")
        self.layers = list(layers)
        self.max_batch = max_batch
        self.decoder_options = dict(decoder or {})
        self.extra_decoders = {name: dict(options or {}) for name, options in (decoders or {}).items()}
        self._group: dict[str, Any] | None = None

    # ------------------------------------------------------------------ subclass hooks
    def edit_parameters(self) -> list[torch.nn.Parameter]:
        """What Adam optimises; dimension 0 of each is the edit's row (``max_batch`` rows)."""
        raise NotImplementedError

    def start_group(self, cases: list[EditCase]) -> dict[str, Any]:
        """Resets the rows of a new group (with the network unedited); returns group state."""
        raise NotImplementedError

    def editing(self, n: int, edit_of_row: torch.Tensor, position: torch.Tensor) -> AbstractContextManager:
        """The edits of the first ``n`` rows acting on a forward pass: row r of the batch is
        edit ``edit_of_row[r]``, whose subject's last token is at ``position[r]``."""
        raise NotImplementedError

    def penalty(self, n: int) -> torch.Tensor:
        """Per-edit regulariser added to the loss, [n]."""
        return torch.zeros(n, device=self.device)

    def project(self, n: int) -> None:
        """Puts the rows back into their allowed set after each step."""

    def final_patches(self, cases: list[EditCase]) -> list[RowPatch]:
        """Per-row weight updates (one patch per edited module) that realise the edits."""
        raise NotImplementedError

    def change_norms(self, n: int) -> torch.Tensor:
        """Norm of each edit's optimised change, recorded as ``delta_norm``, [n]."""
        raise NotImplementedError

    # ------------------------------------------------------------------ optimisation
    def configure_optimizers(self):
        return torch.optim.Adam(self.edit_parameters(), lr=self.hparams.lr)

    def transfer_batch_to_device(self, batch: dict[str, Any], device: torch.device, dataloader_idx: int) -> dict[str, Any]:
        # A batch is edit cases and reveal masks (Python objects) from which each step builds its
        # own tensors; Lightning's default walk through every nested list cost ~20 ms per step
        # at 64 edits.
        return batch

    def training_step(self, batch: dict[str, Any], batch_idx: int):
        cases: list[EditCase] = batch["cases"]
        if not cases:
            return None
        if self._group is None or self._group["id"] != batch["batch_id"]:
            self._begin(batch["batch_id"], cases)
        group = self._group
        try:
            if group["error"] is None and not group["stopped"].all():
                self._optimise(cases, batch["revealed"], last=batch["final"])
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
        if n > self.max_batch:
            raise ValueError(f"a batch of {n} edits exceeds max_batch={self.max_batch}")
        with torch.no_grad():
            state = self.start_group(cases)
            ref = self._essence_logprobs(cases)
        self.optimizers().optimizer.state.clear()
        self._group = {**state, "id": batch_id, "ref_logprobs": ref, "start": time.time(),
                       "stopped": torch.zeros(n, dtype=torch.bool), "trace": [[] for _ in cases], "error": None}

    def _state_inputs(self, case: EditCase, prompt) -> tuple[list[int], int]:
        """The prompt as the edit's keys and values are read: MDMs see [MASK]s where the
        target will go, the fully masked state every decoding starts from."""
        ids, _ = self.adapter.target_inputs(prompt.ids, case.target_ids)
        return ids, prompt.subject_last

    def _capture(self, module: torch.nn.Module, rows: list[tuple[list[int], int]], what: str,
                 group_of_row: torch.Tensor | None = None, patches: list[RowPatch] = ()) -> torch.Tensor:
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
        logits = self.adapter.logits_at(ids, mask, torch.arange(len(rows)), pos)
        return F.log_softmax(logits.float(), dim=-1)

    def _optimise(self, cases: list[EditCase], revealed: list[list[list[bool] | None]], last: bool) -> None:
        group = self._group
        n = len(cases)
        # Stopped edits leave the forward pass: a group then costs what its live edits cost,
        # not what its slowest edit costs.
        live = (~group["stopped"]).nonzero().flatten().tolist()
        rows, edit_of_row, shift_pos, sup_pos, labels = [], [], [], [], []
        for e in live:
            case = cases[e]
            for prompt in case.contexts:
                for reveal in revealed[e]:
                    ids, positions = self.adapter.target_inputs(prompt.ids, case.target_ids, reveal)
                    start = len(prompt.ids)
                    rows.append(ids)
                    edit_of_row.append(e)
                    shift_pos.append(prompt.subject_last)
                    sup_pos.append(positions)
                    labels.append([case.target_ids[p - start] for p in positions])
        # The essence rows share the forward pass: a value shift sits at the subject there too.
        essence = [self.adapter.query_inputs(cases[e].essence.ids) for e in live]
        all_rows = rows + [r[0] for r in essence]
        ids, mask = left_pad(all_rows, self.adapter.pad_token_id)
        pad = torch.tensor([ids.shape[1] - len(r) for r in all_rows])
        edit_idx = torch.tensor(edit_of_row + live)
        at = pad + torch.tensor(shift_pos + [cases[e].essence.subject_last for e in live])
        # Every supervised token and every essence query in one head call; weights make the
        # loss a mean over each row's tokens, then over the edit's rows.
        count = torch.bincount(torch.tensor(edit_of_row), minlength=n)
        tok_row, tok_pos, tok_label, tok_edit, tok_weight = [], [], [], [], []
        for r, (positions, labs) in enumerate(zip(sup_pos, labels)):
            e = edit_of_row[r]
            tok_row += [r] * len(positions)
            tok_pos += [p + int(pad[r]) for p in positions]
            tok_label += labs
            tok_edit += [e] * len(positions)
            tok_weight += [1.0 / (len(positions) * int(count[e]))] * len(positions)
        query = pad[len(rows):] + torch.tensor([r[1] for r in essence])
        read_rows = torch.cat([torch.tensor(tok_row, dtype=torch.long), len(rows) + torch.arange(len(live))])
        read_pos = torch.cat([torch.tensor(tok_pos, dtype=torch.long), query])
        with self.editing(n, edit_idx, at):
            logits = self.adapter.logits_at(ids, mask, read_rows, read_pos).float()
        device = logits.device
        n_tok = len(tok_label)
        token_logp = F.log_softmax(logits[:n_tok], dim=-1)[torch.arange(n_tok), tok_label]
        nll = torch.zeros(n, device=device).index_add(0, torch.tensor(tok_edit, device=device),
                                                      -token_logp * torch.tensor(tok_weight, device=device))
        edited = F.log_softmax(logits[n_tok:], dim=-1)
        ref = group["ref_logprobs"][live]
        kl = torch.zeros(n, device=device).index_add(0, torch.tensor(live, device=device),
                                                     (ref.exp() * (ref - edited)).sum(-1))
        loss = nll + self.hparams.kl_factor * kl + self.penalty(n)

        # A stopped edit's trace ends where it stopped, whatever the rest of its group does.
        for e in live:
            group["trace"][e].append(float(loss[e].detach()))
        # The stop test reads this step's loss before the step, and the last step takes none, as
        # in ROME: the written edit is the one whose loss was measured last.
        group["stopped"] |= torch.tensor([len(trace) >= case.length
                                          and max(trace[-case.length:]) < self.hparams.early_stop_loss
                                          for trace, case in zip(group["trace"], cases)])
        moving = ~group["stopped"]
        if moving.any() and not last:
            opt = self.optimizers()
            opt.zero_grad()
            self.manual_backward(loss[moving].sum())
            params = self.edit_parameters()
            keep = [p.detach()[:n][~moving].clone() for p in params]
            opt.step()
            with torch.no_grad():
                # Adam's momentum would keep moving a stopped edit: put it back.
                for p, kept in zip(params, keep):
                    p[:n][~moving] = kept
                self.project(n)
        self.log("edit/loss", loss.detach()[live].mean(), prog_bar=True, batch_size=len(live))

    # ------------------------------------------------------------------ closing an edit group
    @torch.no_grad()
    def _finish(self, cases: list[EditCase], group: dict[str, Any]) -> list[dict[str, Any]]:
        n = len(cases)
        patches = self.final_patches(cases)
        try:
            scores = self.evaluate(cases, patches, self.decoder_options)
            for name, options in self.extra_decoders.items():
                for e, extra in enumerate(self.evaluate(cases, patches, options)):
                    scores[e].setdefault("decoders", {})[name] = {m: extra[m] for m in MEASURES}
            if self.hparams.edit_sites:
                for e, sites in enumerate(edit_sites(self.adapter, cases, patches, self.decoder_options,
                                                     self.decode_seeds)):
                    scores[e]["sites"] = {"all": scores[e]["efficacy"], **sites}
            if self.hparams.sequential:
                for e in range(n):
                    for patch in patches:
                        patch.merge(e)
        finally:
            for patch in patches:
                patch.remove()
        elapsed = (time.time() - group["start"]) / n
        norms = self.change_norms(n)
        return [self._record(c, group, e, status="ok", reason=None, delta_norm=float(norms[e]),
                             time_s=elapsed, **scores[e]) for e, c in enumerate(cases)]

    def evaluate(self, cases: list[EditCase], patches: list[RowPatch],
                 options: dict[str, Any]) -> list[dict[str, Any]]:
        """Exact match with the model's own decoder under ``options``, each row against its own
        edit's update: efficacy (edit prompt, new object), generalisation (paraphrases, new
        object), specificity (other subjects keep their true objects); the mean over
        ``decode_seeds`` (the text generated is the first seed's)."""
        runs = [self._evaluate_once(cases, patches, options, seed) for seed in self.decode_seeds]
        for e, score in enumerate(runs[0]):
            for m in MEASURES:
                if score[m] is not None:
                    score[m] = sum(run[e][m] for run in runs) / len(runs)
        return runs[0]

    def _evaluate_once(self, cases: list[EditCase], patches: list[RowPatch],
                       options: dict[str, Any], seed: int) -> list[dict[str, Any]]:
        prompts, objects, owner, kind, seeds = [], [], [], [], []
        for e, c in enumerate(cases):
            for j, (ids, obj, k) in enumerate([(c.prompt.ids, c.target_ids, "efficacy")]
                                              + [(p, c.target_ids, "generalisation") for p in c.paraphrases]
                                              + [(p, t, "specificity") for p, t in zip(c.neighbours, c.neighbour_targets)]):
                prompts.append(ids), objects.append(obj), owner.append(e), kind.append(k)
                seeds.append(row_seed(seed, c.request.case_id, j))
        hits = [False] * len(prompts)
        generated: list[list[int]] = [[] for _ in prompts]
        # The decoder runs one target length at a time; rows keep their edit's update.
        for length in sorted({len(o) for o in objects}):
            idx = [i for i, o in enumerate(objects) if len(o) == length]
            with patched(patches, torch.tensor([owner[i] for i in idx])):
                # One decoder batch: the patch's row binding covers exactly these rows.
                ok, gen = exact_match(self.adapter, [prompts[i] for i in idx], [objects[i] for i in idx],
                                      options, batch_size=len(idx), row_seeds=[seeds[i] for i in idx])
            for j, i in enumerate(idx):
                hits[i], generated[i] = ok[j], gen[j]
        scores = []
        for e, c in enumerate(cases):
            mine = [i for i in range(len(prompts)) if owner[i] == e]
            by_kind = {k: [hits[i] for i in mine if kind[i] == k] for k in MEASURES}
            first = mine[0]
            scores.append({
                "efficacy": float(by_kind["efficacy"][0]),
                "generalisation": sum(by_kind["generalisation"]) / len(by_kind["generalisation"]) if by_kind["generalisation"] else None,
                "specificity": sum(by_kind["specificity"]) / len(by_kind["specificity"]) if by_kind["specificity"] else None,
                "generated": self.tokenizer.decode(generated[first]).strip(),
            })
        return scores
