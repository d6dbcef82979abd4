"""The key second moment C is cached per model: a model retrained in the same folder gets its own."""
import os

import torch

from src.editing.stats import cached_second_moment
from src.models import load_model


def test_retrained_model_in_the_same_folder_does_not_reuse_c(tiny_cache, tmp_path):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(tiny_cache.model_paths["llama"], folder)
    texts = [[5, 6, 7, 8], [9, 10, 11]]
    first = cached_second_moment(load_model(str(folder)), str(folder), 0, "t", texts, tmp_path / "cache")
    assert torch.equal(cached_second_moment(load_model(str(folder)), str(folder), 0, "t", texts, tmp_path / "cache"),
                       first)  # reused
    # "Retrain": other weights written into the same folder.
    other = load_model(str(folder))
    with torch.no_grad():
        for p in other.parameters():
            p.mul_(1.5)
    other.save(folder)
    stamp = os.stat(folder / "model.safetensors").st_mtime_ns
    os.utime(folder / "model.safetensors", ns=(stamp + 10**9, stamp + 10**9))
    second = cached_second_moment(load_model(str(folder)), str(folder), 0, "t", texts, tmp_path / "cache")
    assert not torch.allclose(second, first)
    assert len(list((tmp_path / "cache" / "stats").iterdir())) == 2
