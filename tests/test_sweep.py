"""``python -m src.sweep`` on the tiny fact world: one ordinary run folder per layer or window,
sweep.json and its figure, and resumption."""
import json

import pytest

import src.sweep
from src.config_path import CONFIGS, resolve_config
from src.sweep import SweepConfig, entries, fit_argv, main, parse_args

TINY = {"model.init_args.model_path": "factworld:llada@tiny", "data.target_lengths": [1, 2], "data.per_length": 2,
        "data.steps": 3, "data.n_neighbors": 2, "trainer.enable_progress_bar": False}


@pytest.mark.parametrize("path", sorted((CONFIGS / "sweep").glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_sweeps_parse_and_name_a_fit_config(path):
    cfg = parse_args(["--config", path.stem])
    assert resolve_config(cfg.base).is_file() and entries(cfg) and cfg.name == path.stem


def test_a_window_is_one_run_with_its_own_folder(tmp_path):
    cfg = SweepConfig(base="llama_memit.yaml", layers=[[0, 1], [1, 2]], overrides={"data.per_length": 5},
                      name="w", out_dir=str(tmp_path))
    argv = fit_argv(cfg, [1, 2])
    assert argv[argv.index("--model.init_args.layers") + 1] == "[1, 2]"
    assert argv[argv.index("--trainer.logger.init_args.name") + 1] == "L1_2"
    assert argv[argv.index("--data.per_length") + 1] == "5"


def test_sweep_writes_json_and_figure_and_skips_finished_layers(tiny_cache, tmp_path, monkeypatch):
    cfg = SweepConfig(base="llada_corrected.yaml", layers=[0, 1], overrides=TINY, name="tiny", out_dir=str(tmp_path))
    result = main(cfg)
    folder = tmp_path / "tiny"
    assert json.loads((folder / "sweep.json").read_text()) == json.loads(json.dumps(result))
    assert (folder / "sweep.png").stat().st_size > 0
    assert result["family"] == "llada" and result["method"] == "ROME" and result["layers"] == [0, 1]
    assert set(result["per_layer"]) == {"0", "1"} and set(result["per_layer"]["0"]["efficacy"]) == {"1", "2"}
    assert result["best_layer"] in (0, 1)
    for layer in ("L0", "L1"):
        summary = json.loads((folder / layer / "summary.json").read_text())
        assert summary["layers"] == [int(layer[1:])] and (folder / layer / "edits.jsonl").is_file()

    def no_fit(argv):
        raise AssertionError(f"finished layer rerun: {argv}")

    monkeypatch.setattr(src.sweep, "fit", no_fit)
    assert main(cfg) == result


def test_an_option_sweep_runs_each_value_at_the_base_layers(tiny_cache, tmp_path):
    overrides = {**TINY, "model.init_args.edit_sites": True}
    cfg = SweepConfig(base="llama_rome.yaml", option="clamp_norm_factor", values=[0.5, 2.0],
                      overrides={**overrides, "model.init_args.model_path": "factworld:llama@tiny"},
                      name="clamp", out_dir=str(tmp_path))
    argv = fit_argv(cfg, 0.5)
    assert argv[argv.index("--model.init_args.clamp_norm_factor") + 1] == "0.5"
    assert "--model.init_args.layers" not in argv
    result = main(cfg)
    folder = tmp_path / "clamp"
    assert result["option"] == "clamp_norm_factor" and set(result["per_layer"]) == {"0.5", "2"}
    assert result["best_layer"] in (0.5, 2.0) and result["layers"] == [0]
    assert set(result["per_site"]["2"]) >= {"all", "subject_only"}
    for value in ("0.5", "2"):
        config = (folder / f"clamp_norm_factor_{value}" / "config.yaml").read_text()
        assert f"clamp_norm_factor: {float(value)}" in config
    assert (folder / "sweep.png").stat().st_size > 0


def test_an_option_sweep_without_values_is_refused(tmp_path):
    with pytest.raises(ValueError, match="values is empty"):
        main(SweepConfig(base="llama_rome.yaml", option="clamp_norm_factor", out_dir=str(tmp_path)))
