"""The shipped configs on the default fact world, and findings on the AdamW world and the world
variants (slow: on a fresh cache it trains the default's four models, 48 minutes of one core, and
the AdamW world's, about 105; then about 20 minutes on 2 cores with the models cached). CI runs the tiny-world versions
in tests/editing.

    python -m pytest -q -m slow
"""
import json

import pytest

from src.fit import main

pytestmark = pytest.mark.slow


# Findings measured on the AdamW world (the default before Muon) keep its models and ROME's step size.
ADAMW = "factworld_adamw.yaml"
ADAMW_EDIT = ("--model.init_args.lr", "0.5", "--model.init_args.layers", "[0]")


def summary(tmp_path, config: str, per_length: int = 25, *options: str) -> dict:
    name = config.removesuffix(".yaml")
    main(["--config", config, "--data.per_length", str(per_length), "--trainer.enable_progress_bar", "false",
          "--trainer.logger.init_args.save_dir", str(tmp_path), "--trainer.logger.init_args.name", name, *options])
    return json.loads((tmp_path / name / "summary.json").read_text())


def efficacy(tmp_path, config: str, per_length: int = 25, *options: str) -> dict[str, float]:
    return summary(tmp_path, config, per_length, *options)["per_length"]["efficacy"]


@pytest.mark.parametrize("config", ["llama_rome.yaml", "qwen_rome.yaml"])
def test_arm_control_as_published_with_the_chosen_clamp(tmp_path, config):
    # Classic ROME (through_update false) at layer 0 with the shipped clamp 1.5, 50 edits per length:
    # llama 100 / 92 / 96 / 100 %, qwen 100 / 98 / 94 / 92 %; the update at the subject only 98-100 %.
    result = summary(tmp_path, config, 50)
    assert result["per_length"]["efficacy"]["1"] >= 0.95
    assert all(value >= 0.88 for value in result["per_length"]["efficacy"].values())
    assert all(value >= 0.9 for value in result["per_site"]["subject_only"].values())
    assert all(value >= 0.9 for value in result["per_length"]["specificity"].values())


@pytest.mark.parametrize("config", ["llama_rome.yaml", "qwen_rome.yaml"])
def test_an_update_blind_to_the_prompt_holds_the_arm_control_at_every_length(tmp_path, config):
    # keep_context (the written update adds nothing at the prompt's other positions), 100 edits per
    # length: llama 100 / 98 / 100 / 99 %, qwen 100 / 99 / 99 / 99 % (as published: 94 / 96 / 96 and 96 / 90 / 93).
    result = efficacy(tmp_path, config, 100, "--model.init_args.keep_context", "true")
    assert all(value >= 0.95 for value in result.values())


def test_an_edit_prompt_ending_in_a_shared_token_holds_the_arm_control(tmp_path):
    # README, "Which token ends the edit prompt": with "The <relation> of {} is" as the edit prompt
    # the update's share at qwen's last token halves (0.223 -> 0.116) and classic ROME edits
    # 100 / 96 / 95 / 95 % (100 edits per length), against 99 / 96 / 94 / 90 with the first template.
    from src.evaluation.update_reach import main as update_reach

    share = {k: update_reach(["--model", f"factworld:qwen@{ADAMW}", "--layers", "0", "--edit_template", str(k),
                              "--out_dir", str(tmp_path / f"reach{k}")])["layers"]["0"]["last"]["mean"] for k in (0, 1)}
    assert share[1] < 0.7 * share[0]
    result = efficacy(tmp_path, "qwen_rome.yaml", 100, "--data.source_options", "{edit_template: 1}",
                      "--model.init_args.model_path", f"factworld:qwen@{ADAMW}", *ADAMW_EDIT,
                      "--model.init_args.clamp_norm_factor", "2")
    assert all(value >= 0.93 for value in result.values())


@pytest.mark.parametrize("family", ["llada", "dream"])
def test_corrected_edit_holds_at_every_length(tmp_path, family):
    # Measured with 100 edits per length: llada 97 / 91 / 95 / 95 %, dream 100 / 99 / 98 / 97 % (the
    # goal: >= 0.90 at every N).
    assert all(value >= 0.9 for value in efficacy(tmp_path, f"{family}_corrected.yaml", 100).values())


@pytest.mark.parametrize("family", ["llama", "qwen", "llada", "dream"])
def test_default_world_stores_facts_at_the_subject(tmp_path, family):
    # The shipped trace (50 facts): MLP effect at the last subject token 0.256 / 0.258 / 0.183 / 0.345 at
    # layer 1 (the AdamW world: 0.20 / 0.16 / 0.15 / 0.41; the first default world, sentences.yaml: <= 0.05).
    assert max(mlp_effect_at_subject(tmp_path, "factworld.yaml", family, n_facts=50)[:3]) >= 0.15


@pytest.mark.parametrize("family", ["llada", "dream"])
def test_correction_beats_naive_on_multi_token_edits(tmp_path, family):
    # Measured with 100 edits per length, N = 2 / 3 / 4: llada naive 81 / 87 / 91, corrected
    # 91 / 95 / 95; dream (the mean of three seeded decodes) naive 96 / 96 / 97, corrected 99 / 98 / 97.
    naive = efficacy(tmp_path, f"{family}_naive.yaml", 100)
    corrected = efficacy(tmp_path, f"{family}_corrected.yaml", 100)
    longer = [n for n in naive if int(n) >= 2]
    assert sum(corrected[n] for n in longer) > sum(naive[n] for n in longer)


def test_joint_memit_needs_distinct_subject_tokens_per_batch(tmp_path):
    # 100 edits per length, batch 16, lambda 100: the shipped joint config (distinct subject tokens)
    # 99 / 82 / 79 / 78 %, specificity 87-90; the same batches cut in order 81 / 73 / 63 / 62 %.
    distinct = summary(tmp_path, "llama_memit_joint.yaml", 50)["per_length"]
    in_order = efficacy(tmp_path / "in_order", "llama_memit_joint.yaml", 50, "--data.distinct_subject_tokens", "false")
    assert sum(distinct["efficacy"].values()) > sum(in_order.values()) + 4 * 0.05  # 5 points on average over N
    assert all(value >= 0.85 for value in distinct["specificity"].values())


def mlp_effect_at_subject(tmp_path, world: str, family: str = "llama", n_facts: int = 30) -> list[float]:
    from src.trace import TraceConfig, main as trace

    summary = trace(TraceConfig(model_path=f"factworld:{family}@{world}", n_facts=n_facts, window=2,
                                out_dir=str(tmp_path / world / family)))
    return summary["effect"]["mlp"]["last subject token"]


def test_tagged_text_moves_storage_to_the_subject(tmp_path):
    # Measured (README, world variants): 0.163 at layer 1 on tag6, 0.006 on today's world.
    tagged, today = mlp_effect_at_subject(tmp_path, "tag6.yaml"), mlp_effect_at_subject(tmp_path, "sentences.yaml")
    assert max(tagged[:3]) >= 0.15 and max(tagged) > 10 * max(today)


def test_tagged_world_edit_works_at_the_subject_only(tmp_path):
    # Classic ROME (the shift at the subject, not through the update), update applied at the
    # subject's last token only: measured 100 / 96 / 84 / 88 % with 25 edits per length.
    main(["--config", "llama_rome.yaml", "--model.init_args.model_path", "factworld:llama@tag6.yaml",
          "--model.init_args.through_update", "false", "--model.init_args.edit_sites", "true",
          *ADAMW_EDIT, "--data.per_length", "25", "--trainer.enable_progress_bar", "false",
          # ROME's clamp and early stop, as measured (the shipped configs have 1.5 and 0.01).
          "--model.init_args.clamp_norm_factor", "4", "--model.init_args.early_stop_loss", "0.05",
          "--trainer.logger.init_args.save_dir", str(tmp_path), "--trainer.logger.init_args.name", "tag6"])
    summary = json.loads((tmp_path / "tag6" / "summary.json").read_text())
    assert all(value >= 0.75 for value in summary["per_site"]["subject_only"].values())
    assert all(summary["per_site"]["all"][n] == summary["per_length"]["efficacy"][n] for n in summary["per_site"]["all"])


def test_the_written_update_fails_where_it_reaches_the_last_token(tmp_path):
    # Measured (README, "Where the written update acts"): llama's share c of ROME's layer-0 update
    # at the last prompt token is 0.03-0.13 for birthplace / occupation / citizenship and 0.38-0.41
    # for language / school / employer (and so is its last token's layer-0 attention to the
    # subject); written efficacy at clamp 4 (100 edits per length) 86 / 69 / 61 % against
    # 49 / 34 / 44 %, while the update at the subject only scores 88-100 % in all six.
    from src.evaluation.update_reach import main as update_reach

    reach = update_reach(["--model", f"factworld:llama@{ADAMW}", "--layers", "0", "--out_dir", str(tmp_path / "reach")])
    share = {rel: row["last"]["mean"] for rel, row in reach["by_relation"]["0"].items()}
    # ROME's own clamp and early stop, as measured (the shipped configs have 1.5 and 0.01).
    main(["--config", "llama_rome.yaml", "--model.init_args.model_path", f"factworld:llama@{ADAMW}", *ADAMW_EDIT,
          "--model.init_args.clamp_norm_factor", "4",
          "--model.init_args.early_stop_loss", "0.05", "--data.per_length", "50",
          "--trainer.enable_progress_bar", "false", "--trainer.logger.init_args.save_dir", str(tmp_path),
          "--trainer.logger.init_args.name", "rome"])
    per_relation = json.loads((tmp_path / "rome" / "summary.json").read_text())["per_relation"]
    ranked = sorted(share, key=share.get)
    low, high = ranked[:3], ranked[-3:]
    mean = lambda rels, key: sum(per_relation[r][key] for r in rels) / len(rels)  # noqa: E731
    assert max(share[r] for r in low) < 0.2 < min(share[r] for r in high)
    # Why: the last token of the high-share templates copies the subject in the layer-0 attention
    # before the edited MLP (measured: 0.42-0.56 of its attention against 0.19-0.29).
    attention = {rel: row["last"]["attention_to_subject"] for rel, row in reach["by_relation"]["0"].items()}
    assert max(attention[r] for r in low) < min(attention[r] for r in high)
    assert mean(low, "efficacy") - mean(high, "efficacy") >= 0.15
    assert mean(high, "subject_only") >= 0.85
