"""The key second moment C is cached per model and per text: a model retrained in the same folder,
or other texts under the same source name, get their own."""
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


def test_masked_states_give_an_mdm_its_own_c_and_are_refused_for_an_arm(tiny_cache, tmp_path):
    import pytest

    from src.editing.stats import texts_in_states

    texts = [[5, 6, 7, 8, 9, 10, 11, 12]] * 20
    llada, llama = (load_model(str(tiny_cache.model_paths[f])) for f in ("llada", "llama"))
    assert texts_in_states(llada, texts, "corpus", "clean") == (texts, "corpus")
    masked, source = texts_in_states(llada, texts, "corpus", "masked")
    assert source == "corpus masked" and any(llada.mask_token_id in t for t in masked)
    folder = str(tiny_cache.model_paths["llada"])
    clean_c = cached_second_moment(llada, folder, 0, "corpus", texts, tmp_path)
    masked_c = cached_second_moment(llada, folder, 0, source, masked, tmp_path)
    assert not torch.allclose(clean_c, masked_c)  # the [MASK] keys enter C, in their own cache entry
    with pytest.raises(ValueError, match="autoregressive"):
        texts_in_states(llama, texts, "corpus", "masked")
    with pytest.raises(ValueError, match="mom2_states"):
        texts_in_states(llada, texts, "corpus", "noisy")


def test_rome_names_an_unknown_mom2_states(tiny_cache):
    import pytest

    from src.editing import ROME

    with pytest.raises(ValueError, match="mom2_states"):
        ROME(model_path="factworld:llada@tiny", layers=[0], mom2_states="noisy")


def test_other_texts_under_the_same_source_name_get_their_own_c(tiny_cache, tmp_path):
    # "corpus" names whatever data.corpus is; the same name and count with other texts (another
    # corpus, another seed's sample) must not reuse the first C.
    folder = str(tiny_cache.model_paths["llama"])
    model = load_model(folder)
    first = cached_second_moment(model, folder, 0, "corpus", [[5, 6, 7, 8], [9, 10, 11]], tmp_path)
    other = cached_second_moment(model, folder, 0, "corpus", [[12, 13, 14, 15], [16, 17, 18]], tmp_path)
    assert not torch.allclose(first, other)
    assert torch.equal(cached_second_moment(model, folder, 0, "corpus", [[5, 6, 7, 8], [9, 10, 11]], tmp_path), first)
    assert len(list((tmp_path / "stats").rglob("*.pt"))) == 2
