"""Checkpoint folders of the project's own networks: ``config.json`` plus safetensors weights.

The layout is the one the families' hub releases use (a single ``model.safetensors`` or shards
listed in ``model.safetensors.index.json``), so released checkpoints load without remote code.
Every error names the file at fault and the offending tensor names.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

WEIGHTS_NAME = "model.safetensors"
INDEX_NAME = "model.safetensors.index.json"


def read_config(path: str | Path) -> dict:
    """The ``config.json`` of a checkpoint folder as a dict."""
    file = Path(path) / "config.json"
    if not file.is_file():
        raise FileNotFoundError(f"{file}: missing; a checkpoint folder needs its config.json")
    try:
        config = json.loads(file.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{file}: not valid JSON ({e})") from e
    if not isinstance(config, dict):
        raise ValueError(f"{file}: expected a JSON object, got {type(config).__name__}")
    return config


def write_config(config: dict, path: str | Path) -> None:
    Path(path).mkdir(parents=True, exist_ok=True)
    (Path(path) / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def weight_files(path: str | Path) -> tuple[list[Path], Path]:
    """The safetensors files of a folder (single file or shards) and the file to blame for them."""
    path = Path(path)
    single, index = path / WEIGHTS_NAME, path / INDEX_NAME
    if single.is_file():
        return [single], single
    if not index.is_file():
        raise FileNotFoundError(f"{path}: no {WEIGHTS_NAME} or {INDEX_NAME}")
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"{index}: not a safetensors index with a 'weight_map' ({e})") from e
    files = [path / f for f in sorted(set(weight_map.values()))]
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(f"{index}: lists shard {f.name}, which is missing")
    return files, index


def check_weights(path: str | Path) -> None:
    """Raise naming the file when a weight file is damaged (a truncated copy or download):
    opening reads only the header, which must cover the whole file."""
    for f in weight_files(path)[0]:
        try:
            with safe_open(str(f), "pt"):
                pass
        except SafetensorError as e:
            raise ValueError(f"{f}: damaged safetensors file ({e}); copy or save it again") from e


def read_weights(path: str | Path, dtype: torch.dtype | None = None) -> tuple[dict[str, torch.Tensor], Path]:
    """All tensors of a folder (single file or shards), cast to ``dtype``; also the file to blame."""
    files, blame = weight_files(path)
    check_weights(path)
    state: dict[str, torch.Tensor] = {}
    for f in files:
        for name, tensor in load_file(str(f)).items():
            state[name] = tensor.to(dtype) if dtype is not None and tensor.is_floating_point() else tensor
    return state, blame


def write_weights(module: nn.Module, path: str | Path) -> None:
    """``module``'s state dict as one ``model.safetensors``.

    safetensors refuses tensors sharing memory, so a tensor tied to an earlier one is written once
    (under its first name); the families' own modules never register a tied head twice anyway.
    """
    state, seen = {}, set()
    for name, tensor in module.state_dict().items():
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape))
        if key in seen:
            continue
        seen.add(key)
        state[name] = tensor.detach().contiguous()
    Path(path).mkdir(parents=True, exist_ok=True)
    save_file(state, str(Path(path) / WEIGHTS_NAME), metadata={"format": "pt"})


def load_state_strict(module: nn.Module, state_dict: dict[str, torch.Tensor], file: str | Path) -> None:
    """Load ``state_dict`` into ``module`` (which may live on the meta device) or raise.

    A ValueError names ``file`` and every missing tensor, unexpected tensor and shape mismatch,
    so a config that does not describe its weights fails here rather than producing nonsense.
    """
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    problems = []
    if missing:
        problems.append(f"missing tensors: {', '.join(missing)}")
    if unexpected:
        problems.append(f"unexpected tensors: {', '.join(unexpected)}")
    mismatched = [f"{k}: shape {tuple(state_dict[k].shape)} in the file, {tuple(expected[k].shape)} "
                  f"implied by the config" for k in sorted(set(expected) & set(state_dict))
                  if state_dict[k].shape != expected[k].shape]
    if mismatched:
        problems.append("config does not match the tensors: " + "; ".join(mismatched))
    if problems:
        raise ValueError(f"{file}: " + " | ".join(problems))
    # assign=True adopts the loaded tensors (and their dtype) instead of copying into meta storage.
    module.load_state_dict(state_dict, strict=True, assign=True)


def load_network(path: str | Path, build: Callable[[], nn.Module], dtype: torch.dtype) -> nn.Module:
    """Build a network without allocating random weights, then fill it from the folder's tensors."""
    with torch.device("meta"):
        network = build()
    state, file = read_weights(path, dtype)
    load_state_strict(network, state, file)
    return network


def save_network(network: nn.Module, config: dict, path: str | Path) -> None:
    write_config(config, path)
    write_weights(network, path)
