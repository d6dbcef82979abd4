"""The Python API on the tiny fact world: edit, read the metrics, save the edited model, reload it
with the family's loader and (ARMs) with transformers, and see the new object."""
from __future__ import annotations

import pytest
import torch

import src
from src.data.sources.factworld import factworld_requests
from src.evaluation.exact_match import exact_match
from src.factworld.tokens import encode_prompt, encode_target
from src.models import load_model, load_tokenizer

# The tiny world's d=32 models need a looser clamp and no KL term for most edits to take.
# The tiny world's models look facts up at the last token (as the first default world's did), so
# the edits go through the written update here, not the shipped configs' subject shift.
OPTIONS = dict(steps=50, clamp_norm_factor=20.0, kl_factor=0.0, n_neighbors=2, edit_sites=False,
               through_update=True, trainer={"enable_progress_bar": False})


def requests_of(assets, family: str, n: int) -> list[dict]:
    tokenizer = load_tokenizer(assets.model_paths[family])
    found = factworld_requests(assets.world_path, lambda t: encode_target(tokenizer, t.strip()),
                               target_lengths=[1], per_length=n, n_neighbors=2)
    return [{k: v for k, v in r.to_dict().items() if k != "case_id"} for r in found.requests]


def recalls(adapter, tokenizer, request: dict) -> bool:
    prompt = encode_prompt(tokenizer, request["prompt"].replace("{}", request["subject"]))
    ok, _ = exact_match(adapter, [prompt], [encode_target(tokenizer, request["target_new"])])
    return ok[0]


@pytest.mark.parametrize("family", ["llama", "llada"])
def test_edit_save_and_reload(tiny_cache, tmp_path, family):
    requests = requests_of(tiny_cache, family, 4)
    bad = {"prompt": "No subject here", "subject": "Nobody", "target_new": "x"}
    result = src.edit(f"factworld:{family}@tiny", [*requests, bad], method="rome", out_dir=tmp_path / "run",
                      **OPTIONS)
    assert [m["case_id"] for m in result.metrics] == ["0", "1", "2", "3", "4"]
    assert result.metrics[4]["status"] == "failed" and "subject" in result.metrics[4]["reason"]
    edited = [r for r, m in zip(requests, result.metrics) if m["status"] == "ok" and m["efficacy"] == 1.0]
    original, tokenizer = load_model(tiny_cache.model_paths[family]), result.tokenizer
    # The returned model holds the edits (a later edit may move an earlier one: sequential editing).
    held = [r for r in edited if recalls(result.model, tokenizer, r)]
    assert held, f"the edited model recalls none of its new objects: {result.metrics}"
    assert not any(recalls(original, tokenizer, r) for r in held)
    assert (result.folder / "edits.jsonl").is_file() and (result.folder / "summary.json").is_file()

    folder = result.save(tmp_path / "edited")
    reloaded, tokenizer = load_model(folder), load_tokenizer(folder)
    assert [recalls(reloaded, tokenizer, r) for r in requests] == [recalls(result.model, tokenizer, r) for r in requests]
    if family == "llama":
        from transformers import AutoModelForCausalLM, AutoTokenizer

        hf, hf_tokenizer = AutoModelForCausalLM.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
        for request in held:
            prompt = request["prompt"].replace("{}", request["subject"])
            ids = torch.tensor([encode_prompt(hf_tokenizer, prompt)])
            target = encode_target(hf_tokenizer, request["target_new"])
            out = hf.generate(ids, max_new_tokens=len(target), do_sample=False, pad_token_id=hf_tokenizer.pad_token_id)
            assert out[0, ids.shape[1]:].tolist() == target


def test_edit_refuses_what_it_cannot_return(tiny_cache):
    with pytest.raises(ValueError, match="sequential=False"):
        src.edit("factworld:llama@tiny", [], sequential=False)
    with pytest.raises(ValueError, match="repeated case ids"):
        src.edit("factworld:llama@tiny", [{"case_id": 1}, {"case_id": "1"}])
    with pytest.raises(ValueError, match="method 'nope'"):
        src.edit("factworld:llama@tiny", [], method="nope")


def test_trace(tiny_cache, tmp_path):
    summary = src.trace("factworld:llama@tiny", n_facts=2, samples=2, window=1, out_dir=str(tmp_path))
    assert summary["family"] == "llama" and (tmp_path / "summary.json").is_file()
