"""One Lightning training run of one model  on a world's samples, with the family's objective."""
from __future__ import annotations

import time
from pathlib import Path

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from transformers import PreTrainedTokenizerBase

from src.models.base import ModelAdapter
from src.progress import use_line_progress
from src.quiet import quiet_libraries

from .data import FactDataModule
from .objectives import objective_for
from .text import Sample


def train_model(adapter: ModelAdapter, samples: list[Sample],
                tokenizer: PreTrainedTokenizerBase, epochs: int, lr: float, batch_size: int,
                eos_prob: float, seed: int, log_dir: Path, name: str, loss_on: str = "object",
                cached_in: Path | None = None, grad_clip: float | None = None, tie_copies: bool = False,
                mdm_options: dict | None = None, optim_options: dict | None = None) -> float:
    """Train ``adapter`` in place (ARMs: next-token loss, MDMs: masked diffusion loss, on the
    ``loss_on`` tokens: "object" or "sequence") on CPU; TensorBoard logs go to ``log_dir/name``.
    Says first what it trains and where the model will be cached (``cached_in``, default
    ``log_dir/../name``, as ``build.py`` lays the cache out; ``grad_clip`` the gradient's largest
    global norm, None for no clipping; ``tie_copies`` see ``collate_right``; ``mdm_options`` and
    ``optim_options`` see ``objective_for``), then shows progress (one line per
    10% where stdout is no terminal). Returns the training wall time in seconds."""
    quiet_libraries()
    cached_in = cached_in or Path(log_dir).parent / name
    print(f"training the fact-world {name} model: first use of this world and family, so it is built "
          f"once ({epochs} epochs over {len(samples)} samples) and cached in {cached_in}", flush=True)
    L.seed_everything(seed, verbose=False)
    objective = objective_for(adapter, loss_on, lr, mdm_options, optim_options)
    data = FactDataModule(samples, tokenizer.pad_token_id, tokenizer.eos_token_id, batch_size, eos_prob, seed,
                          tie_copies)
    batches = -(-len(samples) // batch_size)
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=epochs,
                        logger=TensorBoardLogger(str(log_dir), name=name, version=""),
                        enable_checkpointing=False, enable_model_summary=False, gradient_clip_val=grad_clip,
                        log_every_n_steps=max(1, min(10, batches)))
    use_line_progress(trainer, f"training {name}")
    start = time.perf_counter()
    trainer.fit(objective, datamodule=data)
    adapter.eval()
    seconds = time.perf_counter() - start
    print(f"trained the fact-world {name} model in {seconds:.0f} s", flush=True)
    return seconds
