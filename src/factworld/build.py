"""The cache of trained fact-world models: train once, reuse everywhere.

Cache folder: ``$MDM_EDIT_CACHE`` if set, else ``<cwd>/.cache/mdm-edit``. One spec lives in
``<cache>/factworld/<spec hash>/``: ``spec.json``, ``world.json``, ``tokenizer/``, one folder per
family in that family's own checkpoint format (with the tokenizer files beside the weights, so
``load_model(folder)`` and ``load_tokenizer(folder)`` both work), ``logs/`` (TensorBoard),
``timings.json`` (training seconds) and ``recall.json`` (written by ``python -m src.pretrain``).
"""
from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import shutil
import tempfile
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Callable

import torch
from transformers import PreTrainedTokenizerBase

from src.models import ModelAdapter, load_model, load_tokenizer
# PREFIX and the resolver of every model name (factworld:, smollm2, gguf:, folders) live in
# src.models.resolve; imported here for the callers that have always found them in this module.
from src.models.resolve import FACTWORLD as PREFIX, resolve_model_path  # noqa: F401

from .families import ARM_FAMILIES, FAMILY_ORDER, dream_from_qwen, new_model
from .spec import FactWorldSpec
from .tokenizer import train_tokenizer
from .text import training_samples
from .train import train_model
from .world import World, generate_world



@dataclass
class FactWorldAssets:
    """Paths of one spec's cached world, tokenizer and trained models."""

    root: Path
    world_path: Path
    tokenizer_path: Path
    model_paths: dict[str, Path]

    def world(self) -> World:
        return World.from_json(self.world_path)

    def tokenizer(self) -> PreTrainedTokenizerBase:
        return load_tokenizer(self.tokenizer_path)


def cache_root() -> Path:
    return Path(os.environ.get("MDM_EDIT_CACHE") or Path.cwd() / ".cache" / "mdm-edit")


def spec_dir(spec: FactWorldSpec) -> Path:
    return cache_root() / "factworld" / spec.spec_hash()


def _publish(build: Callable[[Path], None], target: Path) -> None:
    """Run ``build(tmp_folder)`` and rename the result to ``target``, so that an interrupted build
    never leaves a half-written ``target`` that looks cached (at worst a stray ``.tmp-*``)."""
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{target.name}-", dir=target.parent))
    try:
        build(tmp)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone after the rename; left over after a failure


def _merge_json(path: Path, update: dict) -> None:
    data = json.loads(path.read_text()) if path.is_file() else {}
    path.write_text(json.dumps({**data, **update}, indent=2) + "\n")


def _world_files(spec: FactWorldSpec, folder: Path) -> None:
    world = generate_world(spec.world)
    (folder / "spec.json").write_text(json.dumps(asdict(spec), indent=2) + "\n")
    world.to_json(folder / "world.json")
    train_tokenizer(world.corpus_text(), spec.vocab_size).save_pretrained(str(folder / "tokenizer"))


def ensure_world(spec: FactWorldSpec) -> FactWorldAssets:
    """The spec's folder with its world and tokenizer (built if missing); models may be absent."""
    root = spec_dir(spec)
    if not root.is_dir():
        root.parent.mkdir(parents=True, exist_ok=True)
        _publish(lambda tmp: _world_files(spec, tmp), root)
    return FactWorldAssets(root, root / "world.json", root / "tokenizer",
                           {f: root / f for f in FAMILY_ORDER if (root / f / "config.json").is_file()})


def initial_model(family: str, spec: FactWorldSpec, assets: FactWorldAssets,
                  tokenizer: PreTrainedTokenizerBase) -> ModelAdapter:
    """The model a family's training starts from: random weights, or for dream the cached qwen."""
    if family == "dream":
        return dream_from_qwen(load_model(assets.model_paths["qwen"]).train(), tokenizer)
    return new_model(family, tokenizer, spec.hidden_size, spec.num_layers, spec.num_heads, spec.mlp_size)


def ensure_models(spec: FactWorldSpec, families: list[str] | None = None, jobs: int = 1) -> FactWorldAssets:
    """Train the requested families (default: all four) that the cache lacks, in up to ``jobs``
    processes side by side (``train_in_parallel``); dream brings qwen."""
    wanted = set(families or FAMILY_ORDER)
    if unknown := wanted - set(FAMILY_ORDER):
        raise ValueError(f"unknown families {sorted(unknown)}; choose from {list(FAMILY_ORDER)}")
    if "dream" in wanted:
        wanted.add("qwen")
    if spec_dir(spec).is_dir() and wanted <= set((assets := ensure_world(spec)).model_paths):
        # Models are renamed into place whole, so reading a cached one needs no lock: a job on a
        # cached family does not wait while another family of the same spec trains.
        return assets
    spec_dir(spec).parent.mkdir(parents=True, exist_ok=True)
    # One world builder at a time (DDP ranks, parallel jobs): the others wait, then find it built.
    with _locked(spec_dir(spec).with_suffix(".lock")):
        assets = ensure_world(spec)
    if jobs > 1 and len(wanted - set(assets.model_paths)) > 1:
        train_in_parallel(spec, assets, wanted, jobs)
    else:
        train_families(spec, assets, wanted)
    return assets


def train_families(spec: FactWorldSpec, assets: FactWorldAssets, wanted: set[str]) -> None:
    """Train the ``wanted`` families that ``assets`` lacks, each under its own lock: parallel jobs
    train different families of one world side by side, and a job that needs a family another job
    is training waits for it, then loads it."""
    @cache  # read once per process, and only if a family needs training
    def text() -> tuple[PreTrainedTokenizerBase, list]:
        tokenizer = assets.tokenizer()
        return tokenizer, training_samples(assets.world(), tokenizer, spec.text, spec.biographies, spec.seed)

    for family in [f for f in FAMILY_ORDER if f in wanted]:
        with _locked(assets.root / f".{family}.lock"):
            if not (assets.root / family / "config.json").is_file():
                _train_family(spec, assets, family, *text())
            assets.model_paths[family] = assets.root / family


# Start order of parallel training: qwen first (dream waits for it), then the longest.
PARALLEL_ORDER = ("qwen", "llada", "llama", "dream")


def train_in_parallel(spec: FactWorldSpec, assets: FactWorldAssets, wanted: set[str], jobs: int) -> None:
    """Train the ``wanted`` families that ``assets`` lacks in up to ``jobs`` processes of
    (CPU cores / jobs) threads each, dream once qwen is done. These models are small: one
    thread runs an epoch 1.6x slower than two (README), so two one-thread jobs train two
    models in less time than two-thread jobs one after the other."""
    done = set(assets.model_paths)
    pending = [f for f in PARALLEL_ORDER if f in wanted and f not in done]
    threads = max(1, len(os.sched_getaffinity(0)) // jobs)
    running: dict = {}
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        while pending or running:
            for family in [f for f in pending if f != "dream" or "qwen" in done][:jobs - len(running)]:
                pending.remove(family)
                running[pool.submit(_train_in_process, spec, family, threads)] = family
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                family = running.pop(future)
                future.result()  # a failed family stops the build with its own error
                done.add(family)
                assets.model_paths[family] = assets.root / family


def _train_in_process(spec: FactWorldSpec, family: str, threads: int) -> None:
    torch.set_num_threads(threads)
    train_families(spec, ensure_world(spec), {family})


@contextmanager
def _locked(path: Path):
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _save(adapter: ModelAdapter, tokenizer: PreTrainedTokenizerBase, folder: Path) -> None:
    adapter.save(folder)
    tokenizer.save_pretrained(str(folder))


def training_budget(spec: FactWorldSpec, family: str) -> tuple[int, str]:
    """(epochs, loss_on) of a family's pretraining under ``spec``."""
    if family in ARM_FAMILIES:
        return spec.arm_epochs, spec.arm_loss
    epochs = spec.dream_epochs if family == "dream" and spec.dream_epochs is not None else spec.mdm_epochs
    return epochs, spec.mdm_loss


def _train_family(spec: FactWorldSpec, assets: FactWorldAssets, family: str,
                  tokenizer: PreTrainedTokenizerBase, samples: list) -> None:
    # Each family's initial weights come from the spec's seed alone: otherwise they would
    # depend on the process's random start and on which families were trained before it,
    # and one spec (one cache folder) could hold different models on different machines.
    torch.manual_seed(spec.seed)
    adapter = initial_model(family, spec, assets, tokenizer)
    epochs, loss_on = training_budget(spec, family)
    seconds = train_model(adapter, samples, tokenizer, epochs, spec.lr, spec.batch_size, spec.eos_prob,
                          spec.seed, assets.root / "logs", family, loss_on, grad_clip=spec.grad_clip,
                          tie_copies=spec.mdm_tie_copies and family not in ARM_FAMILIES,
                          mdm_options={"weighting": spec.mdm_weighting, "full_mask_prob": spec.mdm_full_mask_prob},
                          optim_options={"optimizer": spec.optimizer, "muon_lr": spec.muon_lr})
    _publish(lambda tmp: _save(adapter, tokenizer, tmp), assets.root / family)
    with _locked(assets.root / ".timings.lock"):  # other families' jobs write it too
        _merge_json(assets.root / "timings.json", {family: {"train_seconds": round(seconds, 1)}})
