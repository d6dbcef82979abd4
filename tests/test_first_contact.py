"""What a new user sees first: pretraining progress in a log file, no noise from Lightning, a
finished rerun, ``--trainer.default_root_dir``, the short ``--help``, figures and the benchmark's
output."""
import json
import logging
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import lightning as L
from lightning.fabric.utilities.data import AttributeDict
import pytest
import torch

from src.fit import main
from src.quiet import IGNORED_WARNINGS, RANK_ZERO_LOGGER, captured_output, quiet_libraries

# The messages as Lightning / torch word them (lightning 2.6, torch 2.13).
NOISE = ["LightningCLI's args parameter is intended to run from within Python like if it were from the command line.",
         "`isinstance(treespec, LeafSpec)` is deprecated, use `isinstance(treespec, TreeSpec) and treespec.is_leaf()`",
         "Found 28 module(s) in eval mode at the start of training. This may lead to unexpected behavior during training.",
         "You have overridden `transfer_batch_to_device` in `LightningModule` but have passed in a `LightningDataModule`.",
         "Your `IterableDataset` has `__len__` defined. In combination with multi-process data loading"]
TIP = "💡 Tip: For seamless cloud logging and experiment tracking, try installing [litlogger](https://pypi.org/...)"


def fit_args(*extra: str) -> list[str]:
    return ["--config", "llada_corrected.yaml", "--model.init_args.model_path", "factworld:llada@tiny",
            "--data.target_lengths", "[1, 2]", "--data.per_length", "1", "--data.steps", "3",
            "--data.n_neighbors", "2", *extra]


def test_only_the_named_warnings_and_the_tip_are_silenced(caplog):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        quiet_libraries()
        for message, (_, category) in zip(NOISE, IGNORED_WARNINGS):
            warnings.warn(message, category)
        warnings.warn("The number of training batches (6) is smaller than the logging interval", UserWarning)
        warnings.warn("Found 28 module(s) in eval mode", DeprecationWarning)  # another category: kept
    assert [str(w.message)[:14] for w in seen] == ["The number of ", "Found 28 modul"]
    caplog.set_level(logging.INFO, logger=RANK_ZERO_LOGGER)
    logging.getLogger(RANK_ZERO_LOGGER).info(TIP)
    logging.getLogger(RANK_ZERO_LOGGER).info("GPU available: False, used: False")
    assert [r.getMessage() for r in caplog.records] == ["GPU available: False, used: False"]


def test_pretraining_says_what_it_builds_and_prints_lines_not_frames(tiny_cache, tmp_path, capsys):
    from src.factworld.families import new_model
    from src.factworld.text import training_samples
    from src.factworld.train import train_model

    tokenizer = tiny_cache.tokenizer()
    samples = training_samples(tiny_cache.world(), tokenizer)
    adapter = new_model("llama", tokenizer, 16, 1, 2, 32)
    train_model(adapter, samples, tokenizer, 10, 1e-2, 16, 0.1, 0, tmp_path / "logs", "llama")
    out = capsys.readouterr().out  # captured: stdout is no terminal here, as in a log file
    assert "training the fact-world llama model: first use" in out and f"cached in {tmp_path / 'llama'}" in out
    lines = [line for line in out.splitlines() if line.startswith("training llama: ")]
    assert [line.split()[2] for line in lines] == [f"{p}%" for p in range(10, 101, 10)]
    assert "(epoch 1/10), loss " in lines[0] and "about" in lines[0] and "left" not in lines[-1]
    assert "\r" not in out and "it/s" not in out


def test_fit_root_dir_quiet_output_and_finished_rerun(tiny_cache, tmp_path, monkeypatch, capsys, caplog):
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        main(fit_args("--trainer.default_root_dir", str(tmp_path / "elsewhere")))
    assert not [str(w.message) for w in seen if any(str(w.message)[:30] in m for m in NOISE)]
    folder = tmp_path / "elsewhere" / "llada_corrected"
    assert (folder / "edits.jsonl").is_file() and not (tmp_path / "runs").exists()
    first = capsys.readouterr().out
    assert "edit steps: 100% (batch 3/3)" in first and "already in" not in first
    edited = [r for r in map(json.loads, (folder / "edits.jsonl").read_text().splitlines()) if r["status"] == "ok"]
    caplog.clear()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        main(fit_args("--trainer.default_root_dir", str(tmp_path / "elsewhere")))
    assert not [w for w in seen if "across ranks is zero" in str(w.message)]
    assert "No training batches" not in caplog.text and "Modules in eval mode" not in first
    again = capsys.readouterr().out
    assert f"all {len(edited)} edits already in {folder}" in again and len(edited) >= 2
    assert "N  efficacy  generalisation  specificity  n" in again
    with pytest.raises(SystemExit, match="disagree"):
        main(fit_args("--trainer.default_root_dir", str(tmp_path / "a"),
                      "--trainer.logger.init_args.save_dir", str(tmp_path / "b")))


def test_short_help_names_the_configs_and_keeps_the_full_help(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: python -m src.fit --config")
    for name in ("llada_corrected.yaml", "robustness/llada.yaml", "real/llada_8b_corrected.yaml",
                 "--data.per_length", "--model.init_args.layers", "--trainer.default_root_dir", "--help-all"):
        assert name in text
    assert len(text.splitlines()) < 80 and "Lightning Trainer command line tool" not in text
    with pytest.raises(SystemExit):
        main(["--help-all"])
    full = capsys.readouterr().out
    assert full.startswith("usage: python -m src.fit") and "--trainer.max_epochs" in full


def test_line_progress_replaces_the_bar_off_a_terminal(capsys):
    from src.progress import LineProgress, use_line_progress

    class Tiny(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))

        def training_step(self, batch, _):
            loss = (self.w * batch[0]).pow(2).mean()
            self.log("toy/loss", loss)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_model_summary=False)
    terminal = SimpleNamespace(isatty=lambda: True)
    assert not use_line_progress(trainer, "toy", terminal) and trainer.progress_bar_callback is not None
    assert use_line_progress(trainer, "toy", sys.stdout) and trainer.progress_bar_callback is None
    assert any(isinstance(cb, LineProgress) for cb in trainer.callbacks)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(20, 1)), batch_size=1)
    trainer.fit(Tiny(), data)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("toy: ")]
    assert len(lines) == 10 and lines[4].startswith("toy: 50% (batch 10/20), loss ")


class Writer:
    def __init__(self):
        self.scalars = {}

    def add_scalar(self, tag, value, step):
        self.scalars[(tag, step)] = value

    def add_figure(self, *args, **kwargs):
        pass


def test_loss_curve_mean_is_over_the_edits_still_running(tmp_path):
    from callbacks.loss_curves import LossCurves

    writer = Writer()
    strategy = SimpleNamespace(root_device=torch.device("cpu"), reduce=lambda t, reduce_op: t)
    trainer = SimpleNamespace(datamodule=SimpleNamespace(hparams=AttributeDict(steps=4, schedule="none")),
                              logger=SimpleNamespace(experiment=writer), strategy=strategy, global_rank=0,
                              log_dir=str(tmp_path), default_root_dir=str(tmp_path))
    module = SimpleNamespace(adapter=SimpleNamespace(family="llada", kind="mdm"), layers=[0])
    curves = LossCurves(per_edit=False)
    curves.setup(trainer, module, "fit")
    stopped = {"case_id": "a", "target_length": 1, "loss_trace": [4.0, 0.01]}
    running = {"case_id": "b", "target_length": 1, "loss_trace": [2.0, 1.0, 0.5, 0.25]}
    curves.on_train_batch_end(trainer, module, {"outcomes": [stopped, running]}, None, 0)
    curves.on_train_end(trainer, module)
    means = [writer.scalars[("edit_loss_mean/N=1", t)] for t in range(4)]
    assert means == pytest.approx([3.0, 0.505, 0.5, 0.25])  # not (0.5 + 0.01) / 2 at step 2
    assert [writer.scalars[("edits_running/N=1", t)] for t in range(4)] == [2, 2, 1, 1]
    assert (tmp_path / "loss_curves.png").stat().st_size > 0


def test_tracing_figures_tick_layers_at_cells_and_name_family_and_window():
    from src.tracing import lines_figure, models_figure

    effect = {k: {"last subject token": [0.1, 0.2, 0.3, 0.0], "last token": [0.4, 0.1, 0.0, 0.2]}
              for k in ("hidden", "mlp", "attn")}
    summary = {"n_facts": 3, "n_skipped": 0, "effect": effect, "family": "llada", "config": {"window": 10}}
    fig = models_figure({"llada": summary, "llama": {**summary, "config": {"window": 2}}}, "mlp")
    ax = fig.axes[0]
    assert list(ax.get_xticks()) == [0.5, 1.5, 2.5, 3.5] and [t.get_text() for t in ax.get_xticklabels()] == list("0123")
    assert ax.get_title() == "llada (10-layer window, each spans all 4 layers)"
    assert fig.axes[1].get_title() == "llama (2-layer window, clipped at the ends)"
    lines = lines_figure(summary)
    assert list(lines.axes[0].get_xticks()) == [0, 1, 2, 3] and lines._suptitle.get_text().startswith("llada:")
    assert lines.axes[1].get_title() == "restored MLP (10-layer window, each spans all 4 layers)"
    assert "(%)" not in lines.axes[0].get_ylabel()


def test_sweep_titles_name_the_variant(tmp_path):
    from src.reporting.figures import sweep_figure
    from src.reporting.study import load

    folder = tmp_path / "sweep"
    (folder / "L0").mkdir(parents=True)
    per_layer = {"0": {"efficacy": {"1": 0.5}}}
    (folder / "sweep.json").write_text(json.dumps({"name": "s", "family": "llada", "method": "ROME", "layers": [0],
                                                   "per_layer": per_layer, "best_layer": 0}))
    (folder / "L0" / "summary.json").write_text(json.dumps({"per_length": per_layer["0"], "method": "ROME",
                                                            "family": "llada", "layers": [0]}))
    (folder / "L0" / "config.yaml").write_text("data:\n  schedule: study\n")
    sweep = load(folder)
    assert sweep.edit == "llada ROME corrected"
    assert sweep_figure(sweep)._suptitle.get_text().startswith("llada ROME corrected layer sweep")


def test_captured_output_keeps_quiet_and_replays_on_failure(capsys):
    with captured_output() as buffer:
        print("a whole fit's output")
    assert capsys.readouterr().out == "" and "a whole fit's output" in buffer.getvalue()
    with pytest.raises(RuntimeError), captured_output():
        print("what went wrong")
        raise RuntimeError("boom")
    assert "what went wrong" in capsys.readouterr().err


def test_edit_throughput_prints_only_its_table(tmp_path, monkeypatch, capsys):
    import bench.edit_throughput as bench

    def fake_fit(argv):
        print("ROME on llama, this run ... results in", argv)
        folder = Path(argv[argv.index("--trainer.logger.init_args.save_dir") + 1])
        name = argv[argv.index("--trainer.logger.init_args.name") + 1]
        (folder / name).mkdir(parents=True)
        rec = {"status": "ok", "time_s": 0.5, "efficacy": 1.0}
        (folder / name / "edits.jsonl").write_text(json.dumps(rec) + "\n")

    monkeypatch.setattr(bench, "fit", fake_fit)
    monkeypatch.setattr(sys, "argv", ["edit_throughput", "--edits", "2", "--batches", "1", "2"])
    bench.main()
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].split() == ["batch", "fit", "s", "loop", "s", "edits/s", "speed-up", "efficacy"]
    assert len(out) == 3 and "results in" not in "\n".join(out)


def test_progress_prints_lines_off_a_terminal():
    import io

    from src.progress import progress

    stream = io.StringIO()
    assert list(progress(range(20), "key statistics, layer 0", stream=stream)) == list(range(20))
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue() and len(lines) == 10
    assert lines[0].startswith("key statistics, layer 0: 10% (2/20)") and lines[-1].startswith("key statistics, layer 0: 100% (20/20)")
