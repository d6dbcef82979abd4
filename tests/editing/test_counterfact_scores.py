"""CounterFact measures per edit and the known-facts filter, on the tiny fact world's llama."""
import pytest
import torch

from src.data.known_filter import UNKNOWN, split_known
from src.data.requests import EditRequest
from src.editing.cases import build_case
from src.editing.counterfact_scores import counterfact_measures
from src.evaluation.exact_match import exact_match
from src.evaluation.probability import object_logprob
from src.factworld.tokens import encode_prompt, encode_target
from src.models import load_model, load_tokenizer


@pytest.fixture(scope="module")
def model(tiny_cache):
    folder = tiny_cache.model_paths["llama"]
    return load_model(folder), load_tokenizer(folder), tiny_cache.world()


def requests(world, n=6):
    out = []
    for i, fact in enumerate(world.facts[:n]):
        relation = world.relation(fact.relation)
        others = [o for o in relation.objects if o != fact.object]
        neighbour = next(f for f in world.facts_of(fact.relation) if f.subject != fact.subject)
        # Every other request claims a wrong true object: the filter must drop those.
        true = fact.object if i % 2 == 0 else others[1]
        out.append(EditRequest(str(i), relation.templates[0], fact.subject, others[0], true, fact.relation,
                               paraphrase_prompts=[relation.prompt(fact.subject, 1)],
                               neighborhood_prompts=[relation.prompt(neighbour.subject, 0)],
                               neighborhood_targets=[neighbour.object]))
    return out


def test_known_filter_keeps_what_the_decoder_writes(model):
    adapter, tokenizer, world = model
    reqs = requests(world)
    hits, _ = exact_match(adapter, [encode_prompt(tokenizer, r.text()) for r in reqs],
                          [encode_target(tokenizer, r.target_true) for r in reqs])
    known, rejected = split_known(adapter, tokenizer, reqs)
    assert [r.case_id for r in known] == [r.case_id for r, h in zip(reqs, hits) if h]
    assert {c for c, _ in rejected} == {r.case_id for r, h in zip(reqs, hits) if not h} and any(hits) and not all(hits)
    assert all(reason == UNKNOWN for _, reason in rejected)
    assert split_known(adapter, tokenizer, reqs, wanted=1)[0] == known[:1]


def test_unedited_measures_match_the_probabilities(model):
    adapter, tokenizer, world = model
    cases = [build_case(r, tokenizer, [], 16) for r in requests(world, 4)]
    scores = counterfact_measures(adapter, tokenizer, cases, [], fluency_tokens=4)
    for case, s in zip(cases, scores):
        new = object_logprob(adapter, [case.prompt.ids], [case.target_ids])[0] / len(case.target_ids)
        true_ids = encode_target(tokenizer, case.request.target_true)
        true = object_logprob(adapter, [case.prompt.ids], [true_ids])[0] / len(true_ids)
        assert s["ES"] == float(new > true)
        assert s["EM"] == pytest.approx((new.exp() - true.exp()).item(), abs=1e-6)
        assert s["locality"] == 1.0  # no patch: nothing changed
        assert 0 <= s["reliability"] <= 1 and s["fluency"] is not None and s["PS"] in (0.0, 1.0)
        assert s["fluency_unedited"] == s["fluency"]  # no patch: the edited model is the unedited one


def test_known_filter_fills_a_quota_per_group(model):
    adapter, tokenizer, world = model
    reqs = requests(world, 12)
    known_all, _ = split_known(adapter, tokenizer, reqs)
    group = lambda r: int(r.case_id) % 3  # noqa: E731
    known, _ = split_known(adapter, tokenizer, reqs, wanted=1, group=group, groups=[0, 1, 2])
    first = {}
    for r in known_all:
        first.setdefault(group(r), r)
    assert known == [r for r in known_all if first[group(r)] is r] and len(known) >= 2
    with pytest.raises(ValueError, match="group needs wanted"):
        split_known(adapter, tokenizer, reqs, group=group)


def test_per_length_counts_known_requests(model, tiny_cache, monkeypatch):
    """With known_only, per_length is a quota of known requests per length, not a draw before the check."""
    import src.data.known_filter as known_filter
    from types import SimpleNamespace

    from src.data.datamodule import EditDataModule

    adapter, tokenizer, _ = model
    # Every other request checked is "unknown", so a draw of per_length before the check falls short.
    monkeypatch.setattr(known_filter, "exact_match", lambda a, prompts, *rest, **kw: ([i % 2 == 0 for i in range(len(prompts))], None))
    folder = tiny_cache.model_paths["llama"]
    data = EditDataModule(source="factworld", target_lengths=[1, 2], per_length=3, known_only=True)
    data.trainer = SimpleNamespace(global_rank=0, lightning_module=SimpleNamespace(
        max_batch=64, adapter=adapter, tokenizer=tokenizer, model_dir=str(folder), hparams=SimpleNamespace(model_path=str(folder)),
        decoder_options={}, extra_decoders={}))
    data.setup("fit")
    lengths = [len(c.target_ids) for c in data.cases]
    assert sorted(lengths) == [1, 1, 1, 2, 2, 2]
    assert sum(reason == known_filter.UNKNOWN for _, reason, _ in data.rejected) >= 6


def test_measures_under_a_live_patch(model):
    """The patches' hooks are on while the unedited references run (the rows then are unpatched)."""
    from src.editing.hooks import LowRankPatch

    adapter, tokenizer, world = model
    cases = [build_case(r, tokenizer, [], 16) for r in requests(world, 2)]
    module = adapter.edit_module(0)
    torch.manual_seed(0)
    for scale in (50.0, 0.0):
        patch = LowRankPatch(module, scale * torch.randn(2, module.out_features, 1), torch.randn(2, module.in_features, 1))
        try:
            measured = counterfact_measures(adapter, tokenizer, cases, [patch], fluency_tokens=2)
        finally:
            patch.remove()
        live, none = (measured, None) if scale else (live, measured)
    unpatched = counterfact_measures(adapter, tokenizer, cases, [], fluency_tokens=2)
    assert none == unpatched  # a zero patch changes nothing, its references included
    assert [m["fluency_unedited"] for m in live] == [m["fluency"] for m in unpatched]  # the reference ignores the patch
    assert any(a["EM"] != b["EM"] for a, b in zip(live, unpatched))


def test_known_filter_on_a_sampling_decoder_does_not_depend_on_chunking(tiny_cache):
    # Dream sampling at temperature 1: each request draws from its own seeded generator, so the
    # chunk and batch it is decoded in do not change whether it is kept.
    folder = tiny_cache.model_paths["dream"]
    adapter, tokenizer, world = load_model(folder), load_tokenizer(folder), tiny_cache.world()
    reqs = requests(world, 12)
    runs = [split_known(adapter, tokenizer, reqs, decoder={"temperature": 1.0}, batch_size=b) for b in (1, 5, 32)]
    assert [r.case_id for r in runs[0][0]] == [r.case_id for r in runs[1][0]] == [r.case_id for r in runs[2][0]]
    assert runs[0][0] and runs[0][1]
