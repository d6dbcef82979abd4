"""The shipped configs on the default fact world (slow: trains the four models on a fresh cache,
~11 minutes, then 45 s for all of them with the models cached). CI runs the tiny-world versions
in tests/editing.

    python -m pytest -q -m slow
"""
import json

import pytest

from src.fit import main

pytestmark = pytest.mark.slow


def efficacy(tmp_path, config: str, per_length: int = 25) -> dict[str, float]:
    name = config.removesuffix(".yaml")
    main(["--config", config, "--data.per_length", str(per_length), "--trainer.enable_progress_bar", "false",
          "--trainer.logger.init_args.save_dir", str(tmp_path), "--trainer.logger.init_args.name", name])
    return json.loads((tmp_path / name / "summary.json").read_text())["per_length"]["efficacy"]


@pytest.mark.parametrize("config", ["llama_rome.yaml", "qwen_rome.yaml"])
def test_arm_control_holds_at_every_length(tmp_path, config):
    # Measured 97-100% per length with 100 edits each; 25 edits leave room for sampling noise.
    assert all(value >= 0.9 for value in efficacy(tmp_path, config).values())


@pytest.mark.parametrize("family", ["llada", "dream"])
def test_correction_beats_naive_on_multi_token_edits(tmp_path, family):
    naive = efficacy(tmp_path, f"{family}_naive.yaml")
    corrected = efficacy(tmp_path, f"{family}_corrected.yaml")
    longer = [n for n in naive if int(n) >= 2]
    assert sum(corrected[n] for n in longer) > sum(naive[n] for n in longer)
