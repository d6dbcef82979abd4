"""Make a masked diffusion LM from any ARM, as Dream was made from Qwen2.5:
``python -m src.adapt --config smoldream.yaml``.

Bidirectional attention, the masked-diffusion loss over whole token blocks, the next-token head
kept (Dream's shift). Writes to ``out_dir``: ``model/`` (Dream's own checkpoint format with the
tokenizer; ``load_model`` reads it), ``checkpoints/last.ckpt`` (Lightning: a rerun resumes from
it), ``logs/`` (TensorBoard loss curve), ``self_texts.txt`` (what the ARM wrote, reused on resume).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from torch.utils.data import DataLoader

from src.config_path import parse_dataclass


@dataclass
class AdaptConfig:
    """Arguments of ``python -m src.adapt``."""

    model_path: str
    """The ARM: a checkpoint folder, "smollm2", "gguf:<file>" or "factworld:<llama|qwen>"."""
    texts: list[str] = field(default_factory=lambda: ["wikitext"])
    """Text sources: "wikitext" (the local Wikipedia sample), "datasets:<builder>:<data_files>[#<column>]",
    or a text file (one text per line)."""
    n_texts: int = 100000
    """At most this many texts per source (seeded random order)."""
    self_texts: int = 0
    """Texts the ARM writes itself (greedy), to keep its facts in the MDM."""
    self_prompts: str = "known"
    """What the ARM continues: "known" (ROME's known_1000 prompts) or a text source (first words)."""
    self_tokens: int = 32
    """Tokens the ARM writes per prompt."""
    seq_len: int = 256
    """Tokens per training block (texts joined with end-of-text)."""
    batch_size: int = 8
    max_steps: int = 1000
    lr: float = 2e-5
    """Peak AdamW learning rate (linear warm-up, cosine decay to 5%)."""
    weight_decay: float = 0.01
    warmup_steps: int = 50
    checkpoint_every: int = 200
    """Optimiser steps between Lightning checkpoints (and at the end)."""
    log_every: int = 10
    """Optimiser steps between TensorBoard loss points."""
    accelerator: str = "auto"
    devices: int = 1
    precision: str = "32-true"
    """Lightning precision, e.g. bf16-mixed on a GPU."""
    seed: int = 0
    out_dir: str = "runs/adapt/smoldream"


def parse_args(argv: list[str]) -> AdaptConfig:
    return parse_dataclass(AdaptConfig, argv, "adapt", __doc__)


def training_texts(cfg: AdaptConfig, arm, tokenizer, out: Path) -> list[str]:
    """The user's texts plus ``self_texts`` continuations by the ARM (written once, to ``out``)."""
    from src.data.corpus import load_texts
    from src.models.adapt import arm_writes, text_prompts

    texts = [t for source in cfg.texts for t in load_texts(source, cfg.n_texts, seed=cfg.seed)]
    if cfg.self_texts:
        cached = out / "self_texts.txt"
        if not cached.is_file():
            if cfg.self_prompts == "known":
                from src.data.sources.known import load_known

                prompts = [f.prompt for f in load_known()][:cfg.self_texts]
            else:
                prompts = text_prompts(load_texts(cfg.self_prompts, cfg.n_texts, seed=cfg.seed),
                                       cfg.self_texts, 8, cfg.seed)
            written = arm_writes(arm, tokenizer, prompts, cfg.self_tokens)
            cached.write_text("".join(" ".join(t.split()) + "\n" for t in written), encoding="utf-8")
        texts += load_texts(str(cached), cfg.self_texts, seed=cfg.seed)
    return texts


def main(cfg: AdaptConfig) -> Path:
    from src.factworld.build import _publish
    from src.factworld.objectives import MDMObjective
    from src.models import load_model, load_tokenizer
    from src.models.adapt import TextBlocks, collate_blocks, dream_from_arm
    from src.models.resolve import resolve_model_path

    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    L.seed_everything(cfg.seed, verbose=False)
    folder = resolve_model_path(cfg.model_path)
    arm, tokenizer = load_model(folder), load_tokenizer(folder)
    data = TextBlocks(training_texts(cfg, arm, tokenizer, out), tokenizer, cfg.seq_len)
    dream = dream_from_arm(arm, tokenizer)
    del arm
    objective = MDMObjective(dream.train(), loss_on="object", lr=cfg.lr, weight_decay=cfg.weight_decay,
                             warmup_steps=cfg.warmup_steps)
    checkpoints = ModelCheckpoint(dirpath=str(out / "checkpoints"), save_last=True, save_top_k=0,
                                  every_n_train_steps=cfg.checkpoint_every)
    trainer = L.Trainer(accelerator=cfg.accelerator, devices=cfg.devices, precision=cfg.precision,
                        max_steps=cfg.max_steps, logger=TensorBoardLogger(str(out), name="logs", version=""),
                        callbacks=[checkpoints], log_every_n_steps=cfg.log_every, enable_model_summary=False)
    last = out / "checkpoints" / "last.ckpt"
    print(f"adapting {folder} -> Dream ({len(data)} blocks of {cfg.seq_len} tokens)"
          + (f", resuming from {last}" if last.is_file() else ""), flush=True)
    loader = DataLoader(data, batch_size=cfg.batch_size, shuffle=True, collate_fn=collate_blocks, drop_last=True)
    trainer.fit(objective, train_dataloaders=loader, ckpt_path=str(last) if last.is_file() else None)
    dream.eval()

    def save(tmp: Path) -> None:
        dream.save(tmp)
        tokenizer.save_pretrained(str(tmp))

    if (out / "model").exists():  # a rerun after more steps replaces the earlier model
        import shutil

        shutil.rmtree(out / "model")
    _publish(save, out / "model")
    print(f"wrote {out / 'model'} (Dream format, {trainer.global_step} steps); load_model reads it")
    return out / "model"


if __name__ == "__main__":
    main(parse_args(sys.argv[1:]))
