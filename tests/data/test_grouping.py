"""Cutting edits into batches: in order, or with no two subjects ending in one token per batch."""
import warnings
from types import SimpleNamespace

import pytest

from src.data.datamodule import EditDataModule
from src.data.grouping import edit_groups, subject_token
from src.editing.cases import Prompt


def case(token: int, name: str) -> SimpleNamespace:
    # the subject's last token sits at index 2 of a 4-token prompt
    return SimpleNamespace(prompt=Prompt([7, 8, token, 9], 2), name=name)


def names(groups):
    return [[c.name for c in g] for g in groups]


def test_default_groups_are_consecutive_slices():
    cases = [case(t, str(i)) for i, t in enumerate([1, 1, 1, 2, 2])]
    assert names(edit_groups(cases, 2)) == [["0", "1"], ["2", "3"], ["4"]]


def test_each_case_joins_the_first_group_without_its_token():
    cases = [case(t, f"{t}{i}") for i, t in enumerate([1, 1, 1, 2, 2, 3])]
    assert names(edit_groups(cases, 2, distinct_subject_tokens=True)) == [["10", "23"], ["11", "24"], ["12", "35"]]


@pytest.mark.parametrize("size", [1, 3, 16])
def test_distinct_groups_keep_every_case_once_and_respect_the_size(size):
    tokens = [(i * 7) % 5 for i in range(40)]
    cases = [case(t, str(i)) for i, t in enumerate(tokens)]
    groups = edit_groups(cases, size, distinct_subject_tokens=True)
    assert sorted(c.name for g in groups for c in g) == sorted(c.name for c in cases)
    assert all(len(g) <= size for g in groups)
    assert all(len({subject_token(c) for c in g}) == len(g) for g in groups)
    if size >= 5:  # five distinct tokens, eight cases each: eight full groups
        assert len(groups) == 8


def test_joint_memit_without_distinct_tokens_is_flagged():
    data = EditDataModule(batch_size=16)
    module = SimpleNamespace(max_batch=64, adapter=SimpleNamespace(kind="arm", family="llama"),
                             hparams=SimpleNamespace(model_path="/models/llama", joint=True))
    with pytest.warns(UserWarning, match="joint MEMIT with --data.batch_size 16 and --data.distinct_subject_tokens false"):
        data._check_model(module)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        EditDataModule(batch_size=16, distinct_subject_tokens=True)._check_model(module)
