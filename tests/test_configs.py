"""Every shipped edit config parses against the classes it names (litgpt-style)."""
from pathlib import Path

import pytest
from jsonargparse import ActionConfigFile
from lightning import Trainer
from lightning.pytorch.cli import LightningArgumentParser

from src.config_path import CONFIGS, resolve_config
from src.data.datamodule import EditDataModule
from src.editing.method import EditMethod

EDIT_CONFIGS = sorted(p for p in CONFIGS.rglob("*.yaml") if p.parent.name not in ("pretrain", "trace", "sweep", "robustness", "adapt", "world_study",
                                                                                   "edit_template"))


def parser() -> LightningArgumentParser:
    p = LightningArgumentParser(exit_on_error=False)
    p.add_argument("--config", action=ActionConfigFile)
    p.add_argument("--seed_everything", type=int | bool, default=True)
    p.add_lightning_class_args(EditMethod, "model", subclass_mode=True)
    p.add_lightning_class_args(EditDataModule, "data")
    p.add_lightning_class_args(Trainer, "trainer")
    return p


@pytest.mark.parametrize("path", EDIT_CONFIGS, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_config_parses(path: Path):
    args = ["--config", str(path)]
    if path.parent.name == "real":
        # Real checkpoints are a required value: the config must not invent a path.
        with pytest.raises(Exception, match="model_path"):
            parser().parse_args(args)
        args += ["--model.init_args.model_path", "/models/checkpoint"]
    cfg = parser().parse_args(args)
    assert cfg.model.init_args.layers


@pytest.mark.parametrize("base", ["llada_naive", "llada_corrected", "dream_naive", "dream_corrected"])
def test_robustness_overlay_adds_decoders_to_its_base(base: str):
    family = base.split("_")[0]
    cfg = parser().parse_args(["--config", str(resolve_config(f"{base}.yaml")),
                               "--config", str(resolve_config(f"robustness/{family}.yaml"))])
    assert cfg.model.init_args.decoders and cfg.model.init_args.model_path == f"factworld:{family}"
    # Its own folder: the base run's records must not be taken for this run's (resume).
    assert cfg.trainer.logger.init_args.version == "robustness"


@pytest.mark.parametrize("base", ["llama_rome", "qwen_rome", "llada_corrected", "dream_memit_naive"])
def test_edit_template_overlay_picks_the_edit_prompt_and_its_own_folder(base: str):
    cfg = parser().parse_args(["--config", str(resolve_config(f"{base}.yaml")),
                               "--config", str(resolve_config("edit_template/template1.yaml"))])
    assert cfg.data.source == "factworld" and cfg.data.source_options == {"edit_template": 1}
    logger = cfg.trainer.logger.init_args
    assert logger.save_dir == "runs/edit_template1" and logger.name == base  # beside, not over, the base run


def test_main_configs_are_shipped():
    for name in ["llada_corrected", "llada_naive", "dream_corrected", "dream_naive", "llama_rome", "qwen_rome",
                 "llama_memit", "llada_memit_corrected"]:
        assert resolve_config(name + ".yaml").is_file()


def test_unknown_config_lists_the_shipped_ones():
    with pytest.raises(FileNotFoundError, match="llada_corrected.yaml"):
        resolve_config("nope.yaml")
