"""Second moment C = E[k k^T] of the keys entering an edit site, computed once and cached.

ROME and MEMIT whiten the update by C^-1 so that it disturbs other keys as little as
possible. The cache key names the model folder, the layer, the text source, the sample count
and a hash of the token ids themselves: a source name can stand for other texts (``corpus`` is
whatever ``data.corpus`` names; another seed draws another sample), so the name alone never
decides which C is reused.
"""
from __future__ import annotations

import hashlib
import logging
import random
from pathlib import Path

import torch
from src.progress import progress

from src.atomic import replacing
from src.data.schedules import forward_process
from src.models.base import ModelAdapter
from src.models.padding import left_pad

log = logging.getLogger(__name__)


def _cache_file(cache_dir: Path, model_dir: str, layer: int, source: str, texts: list[list[int]]) -> Path:
    # The folder and its files' sizes and times: a model retrained or replaced in the same
    # folder gets its own C (content hashes would read gigabytes of a real checkpoint).
    folder = Path(model_dir).resolve()
    files = sorted(f for f in folder.iterdir() if f.is_file()) if folder.is_dir() else []
    identity = [str(folder), *(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)]
    model_key = hashlib.sha1("\n".join(identity).encode()).hexdigest()[:12]
    safe_source = "".join(c if c.isalnum() else "_" for c in source)[-40:]
    texts_key = hashlib.sha1(repr(texts).encode()).hexdigest()[:10]
    return cache_dir / "stats" / model_key / f"layer{layer}_{safe_source}_{len(texts)}_{texts_key}.pt"


MOM2_STATES = ("clean", "masked")


def check_states(states: str) -> None:
    """Refuse a ``mom2_states`` value other than ``MOM2_STATES``, naming the option."""
    if states not in MOM2_STATES:
        raise ValueError(f"mom2_states must be one of {MOM2_STATES}, got {states!r}")


def texts_in_states(adapter: ModelAdapter, texts: list[list[int]], source: str,
                    states: str) -> tuple[list[list[int]], str]:
    """``texts`` in the states C is read from, and ``source`` renamed for the cache: "clean" as
    ROME and MEMIT read them, or for MDMs "masked", the forward process's states
    (``schedules.forward_process``, seed 0), so that C holds the keys at the [MASK] positions
    the model decodes through."""
    check_states(states)
    if states == "clean":
        return texts, source
    if adapter.kind != "mdm":
        raise ValueError(f"mom2_states={states!r} needs a masked diffusion model; "
                         f"this {adapter.family} model is autoregressive (it has no [MASK])")
    return forward_process(texts, adapter.mask_token_id, random.Random(0)), f"{source} masked"


class _SiteReached(Exception):
    """Raised by the key hook: nothing after the edit site is needed for C."""


@torch.no_grad()
def key_second_moment(adapter: ModelAdapter, layer: int, texts: list[list[int]], batch_size: int = 64,
                      stop_at_site: bool = True, product_dtype: torch.dtype | None = None) -> torch.Tensor:
    """Mean of k k^T over every non-pad token of ``texts`` (token id lists), in float64.

    Each batch's k^T k is one matmul on the model's device, summed into a float64 total there.
    ``product_dtype`` defaults to float64 for float32 keys and to float32 for half-precision
    keys: a product of two bf16 numbers is exact in float32 and a batch sums a few thousand
    terms; the total over a long sample is what needs float64 (a float64 product on the CPU
    costs hours at d_ff 12288-18944).
    ``stop_at_site`` ends each forward pass at the edit site: the layers above it and the
    vocabulary head (as costly as the blocks at shallow depth) do not change the keys.
    """
    module = adapter.edit_module(layer)
    d = module.in_features
    device = next(adapter.parameters()).device
    total, count = torch.zeros(d, d, dtype=torch.float64, device=device), 0
    keys: list[torch.Tensor] = []

    def hook(m, inputs):
        keys.append(inputs[0].detach())
        if stop_at_site:
            raise _SiteReached

    handle = module.register_forward_pre_hook(hook)
    try:
        for start in progress(range(0, len(texts), batch_size), f"key statistics, layer {layer}", leave=False):
            ids, mask = left_pad(texts[start:start + batch_size], adapter.pad_token_id)
            keys.clear()
            try:
                adapter(ids, mask)
            except _SiteReached:
                pass
            k = keys[0][mask.bool().to(keys[0].device)]
            k = k.to(product_dtype or (torch.float32 if k.element_size() < 4 else torch.float64))
            total += k.T @ k  # in place: no float64 copy of a d x d product
            count += k.shape[0]
    finally:
        handle.remove()
    return (total / max(count, 1)).cpu()


def cached_second_moment(adapter: ModelAdapter, model_dir: str, layer: int, source: str,
                         texts: list[list[int]], cache_dir: Path) -> torch.Tensor:
    """C from the cache, else computed and cached (written whole or not at all). A damaged entry
    is named and rebuilt; a read-only cache is read, and C computed anew where it is missing."""
    path = _cache_file(cache_dir, model_dir, layer, source, texts)
    if path.is_file():
        try:
            return torch.load(path, weights_only=True)
        except Exception as err:  # torch raises several types for a torn zip; none names the file
            log.warning("%s: damaged key statistics (%s: %s); computing them again", path, type(err).__name__, err)
    moment = key_second_moment(adapter, layer, texts)
    try:
        with replacing(path) as tmp:
            torch.save(moment, tmp)
    except OSError as err:
        log.warning("%s: cannot cache key statistics (%s); using them uncached", path, err)
    return moment
