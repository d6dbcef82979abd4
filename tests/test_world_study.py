"""``python -m src.world_study`` on the tiny fact world: one row per world, resumable."""
import json

import src.world_study
from src.world_study import WorldStudyConfig, format_rows, main

TINY_FIT = {"data.target_lengths": [1, 2], "data.per_length": 2, "data.steps": 3, "data.n_neighbors": 2}


def test_one_row_per_world_with_tracing_and_classic_rome(tiny_cache, tmp_path, monkeypatch):
    cfg = WorldStudyConfig(worlds=["tiny"], n_facts=3, per_length=2, layers=[0, 1], fit_overrides=TINY_FIT,
                           out_dir=str(tmp_path))
    rows = main(cfg)
    (row,) = rows
    assert row["world"] == "tiny" and 0 <= row["recall"] <= 1 and row["train_seconds"] > 0
    assert row["mlp_subject_layer"] in (0, 1) and row["mlp_last_layer"] in (0, 1)
    assert row["rome_layer"] in (0, 1) and set(row["rome_efficacy"]) == {"1", "2"}
    saved = json.loads((tmp_path / "tiny" / "rome" / "sweep.json").read_text())
    assert saved["per_layer"][str(row["rome_layer"])]["efficacy"] == row["rome_efficacy"]
    # The edits are classic ROME: the shift at the subject only, not through the update.
    config = (tmp_path / "tiny" / "rome" / "L0" / "config.yaml").read_text()
    assert "through_update: false" in config
    table = (tmp_path / "table.md").read_text()
    assert table.strip() == format_rows(rows) and "| tiny |" in table

    def no_trace(cfg):
        raise AssertionError("finished trace rerun")

    monkeypatch.setattr(src.world_study, "trace", no_trace)
    assert [r["rome_efficacy"] for r in main(cfg)] == [row["rome_efficacy"]]


def test_shipped_world_study_configs_parse_and_name_pretraining_specs():
    from src.config_path import CONFIGS
    from src.factworld.spec import load_spec
    from src.world_study import WorldStudyConfig
    from src.config_path import parse_dataclass

    for path in sorted((CONFIGS / "world_study").glob("*.yaml")):
        cfg = parse_dataclass(WorldStudyConfig, ["--config", path.stem], "world_study")
        assert cfg.worlds and all(load_spec(w).num_layers >= 1 for w in cfg.worlds)
