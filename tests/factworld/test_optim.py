"""The pretraining optimizers: Muon on the blocks' matrices, AdamW on the rest, one schedule for both."""
import pytest
import torch

from src.factworld.objectives import MDMObjective
from src.factworld.optim import block_matrices, pretrain_optimizer
from src.factworld.recall import measure_recall
from src.factworld.text import training_samples
from src.factworld.train import train_model
from src.models import load_model


@pytest.mark.parametrize("family", ["llama", "qwen", "llada", "dream"])
def test_muon_takes_each_blocks_matrices_and_adamw_everything_else(tiny_cache, family):
    adapter = load_model(tiny_cache.model_paths[family])
    opt = pretrain_optimizer(adapter, "muon", lr=1e-3, weight_decay=0.01, muon_lr=0.02)
    muon = [p for g in opt.muon.param_groups for p in g["params"]]
    adamw = [p for g in opt.adamw.param_groups for p in g["params"]]
    assert sorted(map(id, muon + adamw)) == sorted(map(id, adapter.parameters()))  # each exactly once
    assert len(muon) == 7 * adapter.num_layers  # q, k, v, o, gate, up, down in every layer
    assert all(p.ndim == 2 for p in muon)
    embedding = adapter.network.get_submodule(adapter.embed_module_name).weight
    assert any(p is embedding for p in adamw) and not any(p is embedding for p in muon)
    edit = adapter.edit_module(0).weight
    assert any(p is edit for p in muon)


def test_one_schedule_scales_both_optimizers_and_a_step_moves_both_kinds_of_weight(tiny_cache):
    adapter = load_model(tiny_cache.model_paths["llada"]).train()
    opt = pretrain_optimizer(adapter, "muon", lr=1e-3, weight_decay=0.01, muon_lr=0.02)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5)
    assert [g["lr"] for g in opt.muon.param_groups] == [0.01]
    assert [g["lr"] for g in opt.adamw.param_groups] == [5e-4]
    before = {id(p): p.detach().clone() for p in adapter.parameters()}
    ids = torch.randint(0, adapter.vocab_size - 2, (4, 8))
    adapter.token_logits(ids).logsumexp(-1).mean().backward()
    opt.step()
    sched.step()
    moved = {id(p) for p in adapter.parameters() if not torch.equal(before[id(p)], p)}
    assert {id(p) for p in block_matrices(adapter)} <= moved
    assert id(adapter.network.get_submodule(adapter.embed_module_name).weight) in moved


def test_state_dict_round_trip_continues_identically(tiny_cache):
    def run(state=None, steps=2):
        torch.manual_seed(0)
        adapter = load_model(tiny_cache.model_paths["llama"]).train()
        opt = pretrain_optimizer(adapter, "muon", lr=1e-3, weight_decay=0.01, muon_lr=0.02)
        if state is not None:
            adapter.load_state_dict(state[0])
            opt.load_state_dict(state[1])
        for _ in range(steps):
            ids = torch.randint(0, adapter.vocab_size - 2, (4, 8), generator=torch.Generator().manual_seed(1))
            adapter.token_logits(ids).logsumexp(-1).mean().backward()
            opt.step()
            opt.zero_grad()
        return adapter, opt

    straight, _ = run(steps=4)
    half, opt = run(steps=2)
    resumed, _ = run(state=(half.state_dict(), opt.state_dict()), steps=2)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)


def test_an_unknown_optimizer_is_named_in_the_error(tiny_cache):
    adapter = load_model(tiny_cache.model_paths["llada"])
    with pytest.raises(ValueError, match="optimizer='sgd'"):
        MDMObjective(adapter, optimizer="sgd")


def test_llada_trained_with_muon_recalls_the_tiny_world(tiny_cache, tmp_path):
    from src.factworld.families import new_model

    tokenizer = tiny_cache.tokenizer()
    samples = training_samples(tiny_cache.world(), tokenizer, "sentences", 8, 0)
    torch.manual_seed(0)
    adapter = new_model("llada", tokenizer, 32, 2, 2, 64)
    train_model(adapter, samples, tokenizer, 60, 0.01, 16, 0.1, 0, tmp_path, "llada",
                optim_options={"optimizer": "muon", "muon_lr": 0.02})
    assert measure_recall(adapter, tokenizer, tiny_cache.world(), 64)["recall"] >= 0.9
