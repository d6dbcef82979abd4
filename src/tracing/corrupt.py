"""The two interventions of causal tracing, as forward hooks on an adapter's modules.

``corrupt_subject`` adds Gaussian noise to the subject's token embeddings; ``restore_states``
writes clean hidden states back into chosen (row, token) cells of chosen modules' outputs;
``replay_layers`` lets the layers below the first restored one return the corrupted run's outputs.
All three work on batches whose row r uses noise sample ``r % samples``, so one forward pass can
hold many restorations, each under every noise sample.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager

import torch
from torch import nn

from src.models.base import ModelAdapter


def noise_scale(adapter: ModelAdapter, subject_token_ids: Iterable[Iterable[int]], factor: float = 3.0) -> float:
    """``factor`` x the standard deviation of the embeddings of all subject tokens (ROME: 3 x std)."""
    ids = torch.tensor([t for subject in subject_token_ids for t in subject], dtype=torch.long)
    weight = adapter.module(adapter.embed_module_name).weight
    return factor * weight[ids.to(weight.device)].float().std().item()


def noise_samples(samples: int, span_len: int, dim: int, scale: float, seed: int) -> torch.Tensor:
    """[samples, span_len, dim] Gaussian noise; a seed fixes it so every restoration sees the same draws."""
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(samples, span_len, dim, generator=g)


def _output(out) -> torch.Tensor:
    # transformers decoder layers return a tensor or a tuple whose first element is the state.
    return out[0] if isinstance(out, tuple) else out


def _replace(out, tensor: torch.Tensor):
    return (tensor, *out[1:]) if isinstance(out, tuple) else tensor


@contextmanager
def corrupt_subject(adapter: ModelAdapter, span: tuple[int, int], noise: torch.Tensor) -> Iterator[None]:
    """Within the block, row r of every forward pass gets ``noise[r % len(noise)]`` added to the
    embeddings of tokens ``span[0]:span[1]``."""
    start, end = span

    def hook(module: nn.Module, args, out: torch.Tensor) -> torch.Tensor:
        rows = torch.arange(out.shape[0], device=out.device) % noise.shape[0]
        out = out.clone()
        out[:, start:end] += noise.to(out.device, out.dtype)[rows]
        return out

    handle = adapter.module(adapter.embed_module_name).register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


@contextmanager
def record_states(adapter: ModelAdapter, template: str) -> Iterator[list[torch.Tensor]]:
    """Within the block, the yielded list holds each layer's ``template`` module output [tokens, d] of row 0."""
    states: list[torch.Tensor] = [torch.empty(0)] * adapter.num_layers
    with ExitStack() as stack:
        for layer in range(adapter.num_layers):
            def hook(module, args, out, layer=layer):
                states[layer] = _output(out)[0].detach()
            stack.callback(adapter.module(template, layer).register_forward_hook(hook).remove)
        yield states


@contextmanager
def restore_states(adapter: ModelAdapter, template: str, clean: list[torch.Tensor],
                   cells: dict[int, tuple[torch.Tensor, torch.Tensor]]) -> Iterator[None]:
    """Within the block, the output of layer l's ``template`` module takes the clean state at
    ``cells[l] = (rows, tokens)``: ``out[rows[k], tokens[k]] = clean[l][tokens[k]]``."""
    with ExitStack() as stack:
        for layer, (rows, tokens) in cells.items():
            def hook(module, args, out, rows=rows, tokens=tokens, layer=layer):
                state = _output(out).clone()
                state[rows, tokens] = clean[layer][tokens].to(state.dtype)
                return _replace(out, state)
            stack.callback(adapter.module(template, layer).register_forward_hook(hook).remove)
        yield


@contextmanager
def record_outputs(adapter: ModelAdapter) -> Iterator[list]:
    """Within the block, the yielded list holds each decoder layer's whole output (every row)."""
    outputs: list = [None] * adapter.num_layers
    with ExitStack() as stack:
        for layer in range(adapter.num_layers):
            def hook(module, args, out, layer=layer):
                outputs[layer] = out
            stack.callback(adapter.module(adapter.layer_module_template, layer).register_forward_hook(hook).remove)
        yield outputs


@contextmanager
def replay_layers(adapter: ModelAdapter, outputs: list, below: int, repeat: int) -> Iterator[None]:
    """Within the block, decoder layers ``< below`` skip their computation and return ``outputs``
    (``record_outputs`` of the corrupted run, one row per noise sample) repeated ``repeat`` times,
    so row r gets sample r % samples. Below the lowest restored layer a restored run *is* the
    corrupted run, so recomputing those layers would only repeat it (the trace's main cost)."""
    layers = [adapter.module(adapter.layer_module_template, layer) for layer in range(below)]
    for layer, module in enumerate(layers):
        state = _output(outputs[layer])
        module.forward = lambda *a, out=outputs[layer], state=state, **k: _replace(out, state.repeat(repeat, 1, 1))
    try:
        yield
    finally:
        for module in layers:
            del module.forward  # the class's forward again
