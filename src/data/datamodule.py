"""The edit DataModule: requests become groups of edits, and each group becomes ``steps``
batches, one per optimisation step, each carrying the masking schedule sampled for that step.

Sharding is by whole groups, round robin over ranks, with no padding: every edit runs
exactly once across a DDP run. Random choices are seeded per (seed, case, step), so an edit
sees the same states whatever group or rank it lands in.
"""
from __future__ import annotations

import random
import zlib
from pathlib import Path
from typing import Any, Iterator

import lightning as L
from lightning.pytorch.utilities import rank_zero_warn
from torch.utils.data import DataLoader, IterableDataset

from src.data.corpus import load_texts
from src.data.grouping import edit_groups
from src.data.requests import EditRequest, InvalidRequest
from src.data.schedules import ScheduleName, revealed_masks
from src.editing.cases import EditCase, build_case
from src.factworld.tokens import encode_target
from src.models import max_positions
from src.options import require_at_least


class _Steps(IterableDataset):
    def __init__(self, groups: list[list[EditCase] | None], first_id: list[int | None], steps: int, schedule: ScheduleName,
                 samples: int, seed: int, orders: dict[str, list[int]], is_mdm: bool):
        self.groups, self.first_id, self.steps = groups, first_id, steps
        self.schedule, self.samples, self.seed, self.orders, self.is_mdm = schedule, samples, seed, orders, is_mdm

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for gid, cases in zip(self.first_id, self.groups):
            for step in range(self.steps):
                if cases is None:
                    # Lightning syncs every rank at every step: a rank out of edits idles along.
                    yield {"batch_id": None, "step": step, "final": False, "cases": [], "revealed": []}
                    continue
                yield {"batch_id": gid, "step": step, "final": step == self.steps - 1, "cases": cases,
                       "revealed": [self._revealed(c, step) for c in cases]}

    def __len__(self) -> int:
        return len(self.groups) * self.steps

    def _revealed(self, case: EditCase, step: int) -> list[list[bool] | None]:
        if not self.is_mdm:
            return [None]  # ARMs are teacher-forced: there is no intermediate state
        rng = random.Random(zlib.crc32(f"{self.seed}/{case.request.case_id}/{step}".encode()))
        return revealed_masks(self.schedule, case.length, step, rng, self.samples,
                              self.orders.get(case.request.case_id))


def fits_positions(case: EditCase, positions: int, extra: int = 0) -> None:
    """Raise InvalidRequest when one of the edit's rows (a prompt with its object and ``extra``
    decoded tokens) is longer than the model's positions: a rotary model runs on past them,
    silently, at positions it never saw in training."""
    prompts = [p.ids for p in case.contexts] + case.paraphrases + case.neighbours
    longest = max(map(len, prompts)) + max([case.length, *map(len, case.neighbour_targets)]) + extra
    if longest > positions:
        raise InvalidRequest(f"a prompt with its object takes {longest} tokens, more than the model's "
                             f"{positions} positions (config.json)", case_id=case.request.case_id)


class EditDataModule(L.LightningDataModule):
    """Edit requests, their grouping into batches and the MDM masking schedules."""

    # Options that only choose which requests run: a rerun into a run folder may change them
    # to add edits to it (``callbacks.results`` refuses a change of any other option).
    SELECTION_OPTIONS = ("target_lengths", "per_length", "limit")

    def __init__(self, source: str = "factworld", path: str | None = None, target_lengths: list[int] | None = None,
                 per_length: int | None = 100, limit: int | None = None, n_neighbors: int = 5,
                 batch_size: int = 16, steps: int = 25, schedule: ScheduleName = "none",
                 samples_per_step: int = 1, n_prefixes: int = 0, prefix_words: int = 5,
                 max_target_tokens: int = 16, corpus: str = "factworld", seed: int = 0,
                 source_options: dict[str, Any] | None = None, known_only: bool = False,
                 distinct_subject_tokens: bool = False):
        """
        Args:
            source: ``factworld`` (the world the model was trained on), ``counterfact``,
                ``zsre`` or ``kamel``.
            path: data file or folder of a real source (default: under $KE_DATA_ROOT).
            target_lengths: keep only requests whose new object has these token lengths.
            per_length: at most this many requests per target length (length-controlled sources).
            limit: at most this many requests in all.
            n_neighbors: other subjects of the relation measured for specificity.
            batch_size: independent edits optimised together in one forward pass.
            distinct_subject_tokens: no two edits whose subjects end in the same token in one batch
                (``grouping.edit_groups``): their keys are nearly one, which MEMIT's joint update
                cannot send to two values.
            steps: optimisation steps per edit.
            schedule: MDM masking schedule: none (naive), study, uniform or sampler (corrected).
            samples_per_step: intermediate states sampled per edit and step.
            n_prefixes: context prefixes the keys and the loss are averaged over (plus the bare prompt).
            prefix_words: words per context prefix (taken from the corpus).
            max_target_tokens: targets longer than this are recorded as failed.
            corpus: text for context prefixes and key statistics: ``factworld``, ``wikitext`` or a text file.
            known_only: keep only requests whose true object the model's own decoder writes
                (``src.data.known_filter``; the others are recorded as rejected); ``limit`` counts kept
                ones, and so does ``per_length`` where ``target_lengths`` are given (kamel, factworld).
            seed: seeds request selection, prefixes and schedules.
            source_options: further options of the source's loader (kamel: ``relations``, a list
                of relation ids, default all; ``split``: train, dev or test; ``templates``;
                factworld: ``edit_template``, which template of each relation is the edit prompt).
        """
        super().__init__()
        self.save_hyperparameters()
        self._check_options()
        self.cases: list[EditCase] = []
        self.rejected: list[tuple[str, str, dict | None]] = []
        self.skip_ids: set[str] = set()
        self.orders: dict[str, list[int]] = {}
        self._texts: dict[tuple[str, int], list[str]] = {}

    def _check_options(self) -> None:
        hp = self.hparams
        for name, low in (("steps", 1), ("batch_size", 1), ("samples_per_step", 1), ("max_target_tokens", 1),
                          ("prefix_words", 1), ("n_neighbors", 0), ("n_prefixes", 0)):
            require_at_least(f"--data.{name}", hp[name], low)
        for name in ("per_length", "limit"):
            require_at_least(f"--data.{name}", hp[name], 1, none_ok=True)
        if hp.target_lengths is not None:
            if not hp.target_lengths:
                raise ValueError("--data.target_lengths is empty: list token lengths, or null for all")
            for n in hp.target_lengths:
                require_at_least("--data.target_lengths entries", n, 1)

    def _check_model(self, module) -> None:
        """The options that need the model: known once the CLI has built both, before any step."""
        hp = self.hparams
        if hp.batch_size > module.max_batch:
            raise ValueError(f"--data.batch_size {hp.batch_size} exceeds --model.init_args.max_batch "
                             f"{module.max_batch} (the edit rows the method holds): lower the one or raise the other")
        if getattr(module.hparams, "joint", False) and not hp.distinct_subject_tokens and hp.batch_size > 1:
            rank_zero_warn(f"joint MEMIT with --data.batch_size {hp.batch_size} and --data.distinct_subject_tokens "
                           "false: edits of subjects that end in the same token share one key in a batch, "
                           "and the joint update gives them up; set it true")
        if hp.schedule != "none" and module.adapter.kind != "mdm":
            rank_zero_warn(f"--data.schedule {hp.schedule} is ignored: {module.hparams.model_path} is a "
                           f"{module.adapter.family} checkpoint (autoregressive, teacher-forced), which has no "
                           "masking schedule; is this the model the config was written for?")

    # ------------------------------------------------------------------ requests
    def setup(self, stage: str) -> None:
        if self.cases or self.rejected:
            return
        module = self.trainer.lightning_module
        self._check_model(module)
        tokenizer, adapter = module.tokenizer, module.adapter
        requests = self._requests(module.model_dir, tokenizer)
        if self.hparams.known_only:
            from src.data.known_filter import split_known

            hp = self.hparams
            quota = (dict(wanted=hp.per_length, groups=hp.target_lengths,
                          group=lambda r: len(encode_target(tokenizer, r.target_new.strip())))
                     if self._quota_after_known else dict(wanted=hp.limit))
            requests, unknown = split_known(adapter, tokenizer, requests, decoder=module.decoder_options, **quota)
            requests = requests[: hp.limit]
            self.rejected += [(cid, reason, None) for cid, reason in unknown]
        prefixes = self._prefixes()
        positions = max_positions(module.model_dir)
        extra = max(o.get("extra_length", 0) for o in [module.decoder_options, *module.extra_decoders.values()])
        for req in requests:
            try:
                case = build_case(req, tokenizer, prefixes, self.hparams.max_target_tokens)
                if positions is not None:
                    fits_positions(case, positions, extra)
                self.cases.append(case)
            except InvalidRequest as err:
                self.rejected.append((req.case_id, err.reason, req.to_dict()))
        self.orders = self._sampler_orders(adapter) if self.hparams.schedule == "sampler" else {}

    @property
    def _quota_after_known(self) -> bool:
        """Whether ``per_length`` counts known requests (filled length by length after the check)
        rather than requests drawn before it: a real model knows few facts, fewer long ones."""
        hp = self.hparams
        return hp.known_only and hp.source in ("kamel", "factworld") and bool(hp.per_length and hp.target_lengths)

    def _requests(self, model_dir: str, tokenizer) -> list[EditRequest]:
        from src.data.sources import describe, load_requests
        from src.data.sources.factworld import factworld_requests

        hp = self.hparams
        encode = lambda text: encode_target(tokenizer, text.strip())  # noqa: E731
        per_length = None if self._quota_after_known else hp.per_length
        if hp.source == "factworld":
            world_file = Path(hp.path) if hp.path else Path(model_dir).parent / "world.json"
            if not world_file.is_file():
                raise FileNotFoundError(f"data.path: no fact world at {world_file}")
            found = factworld_requests(world_file, encode, target_lengths=hp.target_lengths,
                                       per_length=per_length, n_neighbors=hp.n_neighbors, seed=hp.seed,
                                       **(hp.source_options or {}))
        else:
            kw: dict[str, Any] = {}
            if hp.source == "kamel":
                kw = dict(encode=encode, target_lengths=hp.target_lengths, per_length=per_length,
                          n_neighbors=hp.n_neighbors, seed=hp.seed)
            found = load_requests(hp.source, hp.path, **kw, **(hp.source_options or {}))
        if self.trainer.global_rank == 0:
            print(describe(found))
        found.require_unique_ids()
        self.rejected += [(cid, reason, None) for cid, reason in found.rejected]
        requests = found.requests
        if hp.target_lengths and hp.source != "factworld" and hp.source != "kamel":
            requests = [r for r in requests if len(encode(r.target_new)) in hp.target_lengths]
        return requests[: hp.limit] if hp.limit and not hp.known_only else requests

    # ------------------------------------------------------------------ text
    def texts(self, source: str, n: int) -> list[str]:
        key = (source, n)
        if key not in self._texts:
            world = None
            if source == "factworld":
                from src.factworld.world import World

                world = World.from_json(Path(self.trainer.lightning_module.model_dir).parent / "world.json")
            self._texts[key] = load_texts(source, n, world=world, seed=self.hparams.seed)
        return self._texts[key]

    def corpus_ids(self, source: str, n: int, tokenizer) -> list[list[int]]:
        """Token ids of ``n`` texts of ``source`` ("corpus" = this module's corpus), for key statistics."""
        source = self.hparams.corpus if source == "corpus" else source
        return [tokenizer(t, truncation=True, max_length=64)["input_ids"] for t in self.texts(source, n)]

    def _prefixes(self) -> list[str]:
        if not self.hparams.n_prefixes:
            return []
        words = " ".join(self.texts(self.hparams.corpus, 200)).split()
        rng = random.Random(self.hparams.seed)
        size = self.hparams.prefix_words
        starts = [rng.randrange(max(1, len(words) - size)) for _ in range(self.hparams.n_prefixes)]
        return [" ".join(words[s:s + size]) for s in starts]

    def _sampler_orders(self, adapter) -> dict[str, list[int]]:
        from src.evaluation.probability import unmasking_order

        orders = unmasking_order(adapter, [c.prompt.ids for c in self.cases], [c.target_ids for c in self.cases])
        return {c.request.case_id: o for c, o in zip(self.cases, orders)}

    # ------------------------------------------------------------------ batches
    def train_dataloader(self) -> DataLoader:
        todo = [c for c in self.cases if c.request.case_id not in self.skip_ids]
        size = self.hparams.batch_size
        groups = edit_groups(todo, size, self.hparams.distinct_subject_tokens)
        rank, world = self.trainer.global_rank, self.trainer.world_size
        mine = list(range(rank, len(groups), world))
        # Every rank runs the same number of steps; edits are never repeated (no padding with edits).
        rounds = -(-len(groups) // world)
        mine += [None] * (rounds - len(mine))
        dataset = _Steps([groups[g] if g is not None else None for g in mine], mine, self.hparams.steps,
                         self.hparams.schedule, self.hparams.samples_per_step, self.hparams.seed, self.orders,
                         self.trainer.lightning_module.adapter.kind == "mdm")
        return DataLoader(dataset, batch_size=None, collate_fn=lambda b: b)
