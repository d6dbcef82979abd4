"""Causal tracing on tiny random models of all four families (CPU, seconds)."""
import json

import pytest
import torch

from src.factworld import WorldConfig, generate_world, train_tokenizer
from src.models import DreamAdapter, LLaDAAdapter, LlamaAdapter, QwenAdapter
from src.trace import TraceConfig, main, parse_args, subject_span
from src.tracing import (KINDS, average_figure, corrupt_subject, fact_figure, lines_figure, noise_scale,
                         restore_states, save_figures, summarize, trace_fact, window_layers)
from src.tracing.corrupt import noise_samples, record_states

V, MASK = 64, 63
HF = dict(vocab_size=V, hidden_size=32, intermediate_size=48, num_hidden_layers=3, num_attention_heads=4,
          num_key_value_heads=2, pad_token_id=0)
BUILDERS = {
    "llama": lambda: LlamaAdapter.from_config(**HF),
    "qwen": lambda: QwenAdapter.from_config(**HF),
    "llada": lambda: LLaDAAdapter.from_config(d_model=32, n_layers=3, n_heads=4, n_kv_heads=2, mlp_hidden_size=48,
                                              vocab_size=V, embedding_size=V, mask_token_id=MASK, pad_token_id=0),
    "dream": lambda: DreamAdapter.from_config(**HF, mask_token_id=MASK),
}
PROMPT, SPAN, TARGET = [5, 9, 17, 23, 4, 30, 11], (2, 4), [7, 12]


def build(family: str):
    torch.manual_seed(0)
    adapter = BUILDERS[family]().eval()
    # Larger weights than the 0.02 init, so that probabilities and effects are far from uniform.
    for p in adapter.parameters():
        if p.dim() == 2:
            p.data.normal_(0, 0.3)
    return adapter


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Tiny models gain nothing from threads, and on a shared 2-core box OpenMP spinning costs 10x.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def adapter(request):
    return build(request.param)


def trace(adapter, kind="hidden", target=TARGET, **kw):
    return trace_fact(adapter, PROMPT, SPAN, target, samples=3, noise=1.0, window=2, kind=kind, seed=1, **kw)


@pytest.mark.parametrize("kind", KINDS)
def test_batched_and_replayed_equal_loop(adapter, kind):
    loop = trace(adapter, kind, batched=False, replay=False)
    assert loop.effect.abs().max() > 1e-3  # the comparison is not between zeros
    for fast in (trace(adapter, kind, batch_size=8, replay=False), trace(adapter, kind, batch_size=8),
                 trace(adapter, kind, batched=False)):
        assert torch.allclose(fast.scores, loop.scores, atol=1e-6)
        assert fast.corrupted_p == pytest.approx(loop.corrupted_p)


def test_replay_computes_only_the_layers_from_the_restored_one_up(adapter):
    computed = []  # an MLP runs only when its layer computes (a replayed layer skips its forward)
    mlps = [adapter.module(adapter.mlp_module_template, layer) for layer in range(adapter.num_layers)]
    handles = [m.register_forward_pre_hook(lambda m, a, layer=layer: computed.append(layer)) for layer, m in enumerate(mlps)]
    try:
        result = trace(adapter, "hidden", batched=False)
    finally:
        for h in handles:
            h.remove()
    n, tokens = adapter.num_layers, result.scores.shape[1]
    assert len(computed) == 2 * n + tokens * sum(n - layer for layer in range(n))  # clean, corrupted, each cell
    assert all("forward" not in vars(adapter.module(adapter.layer_module_template, layer)) for layer in range(n))


def test_reads_first_target_token_where_target_inputs_puts_it(adapter):
    result = trace(adapter)
    ids, supervised = adapter.target_inputs(PROMPT, TARGET)
    assert result.read_position == supervised[0] == len(PROMPT)
    if adapter.kind == "mdm":  # the prompt followed by one [MASK] per target token
        assert result.input_ids == ids == PROMPT + [MASK] * len(TARGET)
        assert result.scores.shape[1] == len(ids)
    else:  # teacher forcing up to the first target token; the prompt is traced
        assert result.input_ids == PROMPT + TARGET[:1]
        assert result.scores.shape[1] == len(PROMPT)
    # Raw head position read - shift holds the prediction: Dream's is the last prompt token.
    raw = adapter(torch.tensor([result.input_ids]))[0, result.read_position - adapter.shift]
    assert result.clean_p == pytest.approx(raw.softmax(-1)[TARGET[0]].item(), rel=1e-5)


def test_last_layer_restore_at_read_position_recovers_clean(adapter):
    result = trace(adapter)
    source = result.read_position - adapter.shift  # Dream and the ARMs predict from one to the left
    last = result.scores[-1]
    assert last[source].item() == pytest.approx(result.clean_p, rel=1e-4)
    others = torch.cat([last[:source], last[source + 1:]])
    assert torch.allclose(others, torch.full_like(others, result.corrupted_p), atol=1e-6)


def test_restoring_every_last_layer_state_recovers_clean(adapter):
    result = trace(adapter)
    ids = torch.tensor([result.input_ids] * 3)
    with torch.no_grad(), record_states(adapter, adapter.layer_module_template) as clean:
        adapter(ids[:1])
    every = torch.arange(ids.shape[1]).repeat(3)
    cells = {adapter.num_layers - 1: (torch.arange(3).repeat_interleave(ids.shape[1]), every)}
    noise = noise_samples(3, SPAN[1] - SPAN[0], adapter.hidden_size, 1.0, seed=1)
    with torch.no_grad(), corrupt_subject(adapter, SPAN, noise), restore_states(
            adapter, adapter.layer_module_template, clean, cells):
        p = adapter.token_logits(ids)[:, result.read_position].softmax(-1)[:, TARGET[0]]
    assert torch.allclose(p, torch.full_like(p, result.clean_p), rtol=1e-4)


@pytest.mark.parametrize("family", ["llama", "qwen"])
def test_arm_tokens_before_subject_have_no_effect(family):
    # Causal attention: the noise never reaches earlier tokens, so restoring them changes nothing.
    for kind in KINDS:
        effect = trace(build(family), kind).effect
        assert effect[:, :SPAN[0]].abs().max() < 1e-6
        assert effect[:, SPAN[0]:].abs().max() > 1e-3


def test_wrong_facts_are_skipped():
    adapter = build("llada")
    ids, supervised = adapter.target_inputs(PROMPT, TARGET)
    best = int(adapter.token_logits(torch.tensor([ids]))[0, supervised[0]].argmax())
    right = {k: trace(adapter, k, target=[best]) for k in KINDS}
    wrong = {k: trace(adapter, k, target=[(best + 1) % V]) for k in KINDS}
    assert right["mlp"].correct and not wrong["mlp"].correct
    summary = summarize([right, wrong, wrong])
    assert (summary["n_facts"], summary["n_skipped"]) == (3, 2)
    assert summary["clean_p"] == pytest.approx(right["hidden"].clean_p)
    assert set(summary["effect"]) == set(KINDS)
    assert len(summary["effect"]["mlp"]["last subject token"]) == adapter.num_layers
    assert summary["effect"]["hidden"]["first subject token"] == right["hidden"].effect[:, SPAN[0]].tolist()
    assert summarize([wrong])["effect"] == {}


def test_plots_are_written_as_png(tmp_path):
    adapter = build("dream")
    results = {k: trace(adapter, k) for k in KINDS}
    for r in results.values():
        r.correct = True  # a random model rarely gets its fact right; the figures do not care
    summary = summarize([results])
    labels = [str(i) for i in results["hidden"].input_ids]
    paths = save_figures({"fact": fact_figure(results, labels), "average": average_figure(summary),
                          "lines": lines_figure(summary)}, tmp_path)
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)


def test_window_and_noise_scale():
    assert window_layers(20, 10, 48) == range(15, 25)  # ROME: layer - 5 .. layer + 4
    assert window_layers(1, 10, 6) == range(0, 6)
    adapter = build("llama")
    std = adapter.network.model.embed_tokens.weight[[3, 4, 5]].std().item()
    assert noise_scale(adapter, [[3, 4], [5]]) == pytest.approx(3 * std)


def test_entry_writes_json_png_and_events(tmp_path):
    world = generate_world(WorldConfig(n_subjects=8, n_relations=1, objects_per_relation=6, name_parts=4))
    tokenizer = train_tokenizer(world.corpus_text(), vocab_size=120)
    folder = tmp_path / "model"
    LlamaAdapter.from_config(**{**HF, "vocab_size": len(tokenizer), "num_hidden_layers": 2}).save(folder)
    tokenizer.save_pretrained(str(folder))
    world.to_json(folder / "world.json")
    prompt = world.relations[0].prompt(world.subjects[0], 1)
    ids, span = subject_span(tokenizer, prompt, prompt.index(world.subjects[0]),
                             prompt.index(world.subjects[0]) + len(world.subjects[0]))
    assert tokenizer.decode(ids[span[0]:span[1]]).strip() == world.subjects[0]
    out = tmp_path / "out"
    summary = main(TraceConfig(model_path=str(folder), n_facts=2, samples=2, window=2, out_dir=str(out)))
    assert summary["n_facts"] == 2 and summary["noise"] > 0
    record = json.loads((out / "facts" / "000.json").read_text())
    assert set(record["results"]) == set(KINDS) and record["tokens"]
    assert (out / "facts" / "001.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "summary.json").read_text())["n_facts"] == 2
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))


def test_config_names_resolve():
    cfg = parse_args(["--config", "dream", "--n_facts", "3"])
    assert cfg.model_path == "factworld:dream" and cfg.n_facts == 3
