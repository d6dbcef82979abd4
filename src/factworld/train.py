"""One Lightning training run of one model  on a world's samples, with the family's objective."""
from __future__ import annotations

import time
from pathlib import Path

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from transformers import PreTrainedTokenizerBase

from src.models.base import ModelAdapter

from .data import FactDataModule
from .objectives import ARMObjective, MDMObjective
from .text import Sample


def train_model(adapter: ModelAdapter, samples: list[Sample],
                tokenizer: PreTrainedTokenizerBase, epochs: int, lr: float, batch_size: int,
                eos_prob: float, seed: int, log_dir: Path, name: str, loss_on: str = "object") -> float:
    """Train ``adapter`` in place (ARMs: next-token loss, MDMs: masked diffusion loss, on the
    ``loss_on`` tokens: "object" or "sequence") on CPU; TensorBoard logs go to ``log_dir/name``. Returns the training wall
    time in seconds."""
    L.seed_everything(seed, verbose=False)
    objective = (ARMObjective if adapter.kind == "arm" else MDMObjective)(adapter, loss_on=loss_on, lr=lr)
    data = FactDataModule(samples, tokenizer.pad_token_id, tokenizer.eos_token_id, batch_size, eos_prob, seed)
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=epochs,
                        logger=TensorBoardLogger(str(log_dir), name=name, version=""),
                        enable_checkpointing=False, enable_model_summary=False, log_every_n_steps=10)
    start = time.perf_counter()
    trainer.fit(objective, datamodule=data)
    adapter.eval()
    return time.perf_counter() - start
