"""``python -m src.report``: which folders it recognises, the markdown's tables, the figures beside it."""
import json
from pathlib import Path

import pytest

from src.report import main
from src.reporting.study import FitRun, TraceRun, load
from src.sweep import SweepConfig
from src.sweep import main as sweep
from src.trace import TraceConfig
from src.trace import main as trace

TABLE = {"1": 1.0, "2": 0.5, "3": 0.25}


def fit_run(folder: Path, family: str, schedule: str = "none", method: str = "ROME", **extra) -> Path:
    folder.mkdir(parents=True)
    per_length = {"efficacy": TABLE, "generalisation": TABLE, "specificity": {"1": 0.9, "2": 0.9, "3": 0.8}}
    summary = {"per_length": per_length, "counts": {"1": 4, "2": 4, "3": 4}, "edits": 12, "ok": 12, "failed": 0,
               "method": method, "family": family, "layers": [0], **extra}
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "config.yaml").write_text(f"data:\n  schedule: {schedule}\n")
    return folder


def trace_out(folder: Path, family: str, groups: list[str]) -> Path:
    folder.mkdir(parents=True)
    effect = {kind: {g: [0.1 * i, 0.3, 0.05 * i] for i, g in enumerate(groups)} for kind in ("hidden", "mlp", "attn")}
    summary = {"n_facts": 5, "n_skipped": 1, "effect": effect, "clean_p": 0.9, "corrupted_p": 0.2, "family": family}
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def sweep_out(folder: Path) -> Path:
    folder.mkdir(parents=True)
    per_layer = {"0": {"efficacy": {"1": 0.2, "2": 0.1}}, "1": {"efficacy": {"1": 0.8, "2": 0.6}}}
    sweep_json = {"name": "llama_rome", "family": "llama", "method": "ROME", "layers": [0, 1],
                  "per_layer": per_layer, "best_layer": 1}
    (folder / "sweep.json").write_text(json.dumps(sweep_json))
    return folder


def reveal_out(folder: Path, family: str) -> Path:
    folder.mkdir(parents=True)
    result = {"family": family, "length": 2, "model": "m",
              "new_object": {"n": 3, "masked": [5.0, 6.0], "others_revealed": [0.5, 0.25]}}
    (folder / "reveal.json").write_text(json.dumps(result))
    return folder


def reach_out(folder: Path, family: str, attention: float | None) -> Path:
    folder.mkdir(parents=True)
    groups = {"subject_last": {"mean": 1.0, "mean_abs": 1.0, "n": 2}, "last": {"mean": 0.25, "mean_abs": 0.25, "n": 2}}
    last = {"mean": 0.4, "mean_abs": 0.4, "n": 1, **({} if attention is None else {"attention_to_subject": attention})}
    result = {"family": family, "model": "m", "requests": 2, "layers": {"0": groups},
              "by_relation": {"0": {"employer": {"subject_last": groups["subject_last"], "last": last}}}}
    (folder / "reach.json").write_text(json.dumps(result))
    return folder


def test_report_has_every_section_its_tables_and_figures(tmp_path):
    decoders = {"low_confidence": {"efficacy": TABLE}, "random": {"efficacy": {"1": 0.5, "2": 0.0, "3": 0.0}}}
    folders = [fit_run(tmp_path / "llama_rome", "llama"), fit_run(tmp_path / "llada_naive", "llada"),
               fit_run(tmp_path / "llada_corrected", "llada", "study", per_decoder=decoders),
               fit_run(tmp_path / "dream_uniform", "dream", "uniform"),
               trace_out(tmp_path / "trace_llama", "llama", ["last subject token", "last token"]),
               trace_out(tmp_path / "trace_llada", "llada", ["last subject token", "last token", "object [MASK]s"]),
               sweep_out(tmp_path / "sweep"), reveal_out(tmp_path / "reveal_dream", "dream"),
               reach_out(tmp_path / "reach_llada", "llada", None), reach_out(tmp_path / "reach_llama", "llama", 0.5)]
    out = main([*map(str, folders), "--out", str(tmp_path / "report" / "report.md")])
    text = out.read_text()
    for heading in ("## Edits against target length", "### efficacy (%)", "### generalisation (%)",
                    "### specificity (%)", "## Causal tracing", "## Sweeps", "## Decoder robustness",
                    "## Where the written update acts",
                    "## Do the MDMs read revealed object tokens?", "## Published numbers beside ours"):
        assert heading in text
    # ARMs first; groups a run did not measure are dashes; attention only where recorded.
    assert "| llama | 0 | - | - | - | 0.250 | - |" in text and "| llada | 0 | - | - | - | 0.250 | - |" in text
    assert text.index("| llama | 0 |") < text.index("| llada | 0 |")
    assert "| llama | employer | 0.400 | 0.500 |" in text and "| llada | employer | 0.400 | - |" in text
    assert "| llama_rome | llama | ROME L0 | 100.0 | 50.0 | 25.0 | 58.3 | 12 |" in text
    assert "ROME naive L0" in text and "ROME corrected L0" in text and "ROME corrected (uniform) L0" in text
    assert "| llada | 4/5 | 90.0 | 20.0 |" in text  # tracing: facts kept, clean and corrupted P
    assert "| 1 * |" in text  # the sweep's best layer is marked
    assert "| low_confidence | efficacy |" in text and "| random | efficacy | 50.0 | 0.0 | 0.0 |" in text
    assert "| efficacy | 2 | 60.0 | 87.0 |" in text  # the study's published naive / corrected numbers
    assert "not available here" in text
    assert "| dream | 2 | new object, others revealed | 3 | 0.50 / 0.25 |" in text
    for name in ("efficacy_vs_length", "tracing_hidden", "tracing_mlp", "tracing_attn", "sweep_llama_rome",
                 "reveal_context", "update_reach"):
        assert f"]({name}.png)" in text and (out.parent / f"{name}.png").stat().st_size > 0


def test_sections_without_inputs_say_so(tmp_path):
    text = main([str(fit_run(tmp_path / "run", "llama")), "--out", str(tmp_path / "r.md")]).read_text()
    assert "No trace output given." in text and "No sweep given." in text
    assert "No given run measured its edits with other decoders" in text
    assert "No reveal-context measurement given" in text
    assert "No update-reach measurement given" in text


def test_the_cli_names_an_unknown_folder_without_a_traceback(tmp_path):
    with pytest.raises(SystemExit, match="nowhere: no such folder"):
        main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "r.md")])


def test_missing_folders_are_named_and_the_rest_reported(tmp_path, capsys):
    run = fit_run(tmp_path / "llama_rome", "llama")
    (tmp_path / "empty").mkdir()
    out = main([str(run), str(tmp_path / "runs" / "trace" / "*"), str(tmp_path / "empty"),
                "--out", str(tmp_path / "r.md")])
    text = out.read_text()
    assert "| llama_rome | llama | ROME L0 |" in text
    assert "Given but not read" in text and f"- {tmp_path}/runs/trace/*: no such folder" in text
    assert f"- {tmp_path}/empty: not a result folder" in text
    err = capsys.readouterr().err
    assert "left out: " in err and "runs/trace/*: no such folder" in err


def test_unknown_folders_are_named_in_the_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty: not a result folder"):
        load(tmp_path / "empty")
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "summary.json").write_text("{}")
    with pytest.raises(ValueError, match=r"odd/summary.json: neither"):
        load(tmp_path / "odd")


def test_report_reads_real_sweep_fit_and_trace_outputs(tiny_cache, tmp_path):
    overrides = {"model.init_args.model_path": "factworld:llada@tiny", "data.target_lengths": [1, 2],
                 "data.per_length": 2, "data.steps": 3, "data.n_neighbors": 2, "trainer.enable_progress_bar": False}
    sweep(SweepConfig(base="llada_corrected.yaml", layers=[1], overrides=overrides, name="s", out_dir=str(tmp_path)))
    trace(TraceConfig(model_path="factworld:llada@tiny", n_facts=3, samples=2, window=1, out_dir=str(tmp_path / "t")))
    folders = [tmp_path / "s", tmp_path / "s" / "L1", tmp_path / "t"]
    assert [type(load(f)) for f in folders[1:]] == [FitRun, TraceRun] and load(folders[2]).family == "llada"
    text = main([*map(str, folders), "--out", str(tmp_path / "report.md")]).read_text()
    assert "| L1 | llada | ROME (subject shift) corrected L1 |" in text and "### s: llada ROME" in text


def test_rome_labels_say_where_the_shift_was_optimised(tmp_path):
    subject = fit_run(tmp_path / "a", "llama")
    (subject / "config.yaml").write_text("data:\n  schedule: none\nmodel:\n  init_args:\n    through_update: false\n")
    through = fit_run(tmp_path / "b", "llada", schedule="study")
    (through / "config.yaml").write_text("data:\n  schedule: study\nmodel:\n  init_args:\n    through_update: true\n")
    assert load(subject).label == "ROME (subject shift) L0"
    assert load(through).label == "ROME corrected L0"


def test_edit_sites_and_nested_runs_are_reported(tmp_path):
    base = fit_run(tmp_path / "llada_naive", "llada")
    site_table = {"all": {"1": 1.0}, "subject_only": {"1": 0.0}, "except_subject": {"1": 1.0}}
    nested = fit_run(base / "robustness", "llada", per_site=site_table)
    run = load(nested)
    assert run.name == "llada_naive/robustness" and load(base).name == "llada_naive"
    out = tmp_path / "report" / "report.md"
    main([str(base), str(nested), "--out", str(out)])
    text = out.read_text()
    assert "## Where the edits act" in text and "subject_only" in text and "llada_naive/robustness" in text


def test_robustness_rerun_of_a_shown_run_stays_out_of_the_length_tables(tmp_path):
    from src.reporting.sections import lengths_section

    base = load(fit_run(tmp_path / "llada_naive", "llada"))
    rerun = load(fit_run(tmp_path / "llada_naive" / "robustness", "llada",
                         per_decoder={"one_step": {"efficacy": TABLE}}))
    alone = load(fit_run(tmp_path / "dream_naive_robustness", "dream", per_decoder={"one_step": {"efficacy": TABLE}}))
    markdown, _ = lengths_section([base, rerun, alone])
    assert "| llada_naive |" in markdown and "llada_naive/robustness" not in markdown
    assert "dream_naive_robustness" in markdown  # nothing else shows its edits


def test_keep_context_runs_are_labelled_apart():
    run = dict(folder=Path("runs/x"), family="llama", method="ROME", layers=[0], per_length={}, counts={},
               subject_shift=True)
    assert FitRun(**run).label != FitRun(**run, keep_context=True).label
    assert "keep_context" in FitRun(**run, keep_context=True).label


def with_edits(folder: Path, efficacies: list[float]) -> Path:
    rows = [{"case_id": f"c{i}", "target_length": 2, "efficacy": e, "status": "ok"} for i, e in enumerate(efficacies)]
    (folder / "edits.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_corrected_runs_are_compared_edit_by_edit_with_their_naive_run(tmp_path):
    # Pairs form within a folder: keep_context/llada_corrected against keep_context/llada_naive.
    folders = [with_edits(fit_run(tmp_path / "llada_naive", "llada"), [0, 0, 1, 1]),
               with_edits(fit_run(tmp_path / "llada_corrected", "llada", "study"), [1, 1, 1, 0]),
               with_edits(fit_run(tmp_path / "kc" / "llada_naive", "llada"), [1, 1, 1, 1]),
               with_edits(fit_run(tmp_path / "kc" / "llada_corrected", "llada", "study"), [1, 1, 1, 1]),
               fit_run(tmp_path / "dream_naive", "dream"), fit_run(tmp_path / "dream_corrected", "dream", "study")]
    text = main([*map(str, folders), "--out", str(tmp_path / "r.md")]).read_text()
    assert "## The correction's gain, edit by edit" in text
    assert f"| {tmp_path / 'llada_corrected'} | {tmp_path / 'llada_naive'} | ROME corrected L0 | 2 | 4 | +25.0 |" in text
    assert f"| {tmp_path / 'kc' / 'llada_corrected'} | {tmp_path / 'kc' / 'llada_naive'} | ROME corrected L0 | 2 | 4 | +0.0 | [+0.0, +0.0] | 0 | 0 |" in text
    assert f"- {tmp_path / 'dream_corrected'} against {tmp_path / 'dream_naive'}: " in text  # no edits.jsonl
    assert "](correction_gain.png)" in text and (tmp_path / "correction_gain.png").stat().st_size > 0
    alone = main([str(folders[1]), "--out", str(tmp_path / "alone.md")]).read_text()
    assert "No corrected run was given beside its naive run." in alone
