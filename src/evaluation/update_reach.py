"""Where ROME's written update acts: for an edit with key k* (the edit site's input at the
subject's last token), the rank-one update ``r (C^-1 k*)^T / (k*^T C^-1 k*)`` adds
``c_p r`` to the edit site's output at every position p, with

    c_p = (C^-1 k*)^T k_p / (C^-1 k*)^T k*      (1 at the subject's last token).

ROME optimises its value shift at the subject's last token only, so whatever reaches the other
positions is an edit it never optimised. This measures c_p for the unedited model over the
requests of a fact world, per layer, grouped by where p is in the edit's input (the prompt and,
as each family reads its target, the teacher-forced object tokens or the [MASK]s):

    python -m src.evaluation.update_reach --model factworld:llama --layers 0 1 2

writes ``runs/reach/<family>/reach.json`` (also per relation). C is the one the edit configs use (the world's
sentences, ``--mom2_samples``, cached beside theirs).

For ARMs it also records why the last token gets its share: the attention weight (mean over
heads) from the last prompt token to the subject's tokens in each measured layer's attention,
which runs just before that layer's MLP. A last token that copies the subject in there gets a
key like the subject's, and so the update.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from src.data.corpus import load_texts
from src.data.requests import InvalidRequest
from src.editing.cases import build_case
from src.editing.rank_one import Whitener, whiten
from src.editing.stats import MOM2_STATES, cached_second_moment, texts_in_states
from src.evaluation.output import write_result
from src.models import load_model, load_tokenizer
from src.models.base import ModelAdapter
from src.quiet import quiet_libraries

LENGTHS = [1, 2, 3, 4]  # target lengths of the requests measured, as the edit configs draw them
GROUPS = ("before_subject", "subject", "subject_last", "after_subject", "last", "object")


def position_groups(prompt_len: int, first: int, subject_last: int, target_len: int) -> list[str]:
    """The group of each position of ``target_inputs``: prompt tokens by their place around
    the subject (its tokens ``first``..``subject_last``), then the target's positions."""
    groups = []
    for p in range(prompt_len):
        if p == subject_last:
            groups.append("subject_last")
        elif p == prompt_len - 1:
            groups.append("last")
        elif p < first:
            groups.append("before_subject")
        elif p < subject_last:
            groups.append("subject")
        else:
            groups.append("after_subject")
    return groups + ["object"] * target_len


def subject_first(tokenizer, template: str, subject: str) -> int:
    """Index of the subject's first token in the prompt (``encode_with_subject`` finds its last)."""
    start = template.index("{}")
    offsets = tokenizer(template.replace("{}", subject, 1), return_offsets_mapping=True)["offset_mapping"]
    return next(i for i, (a, b) in enumerate(offsets) if b > a and b > start)


@torch.no_grad()
def edit_site_inputs(adapter: ModelAdapter, layers: list[int], ids: list[int]) -> dict[int, torch.Tensor]:
    """The inputs [L, d_in] of each layer's edit site for one row, from one forward pass."""
    seen: dict[int, torch.Tensor] = {}
    handles = [adapter.edit_module(layer).register_forward_hook(
        lambda m, i, o, layer=layer: seen.__setitem__(layer, i[0][0].detach())) for layer in layers]
    try:
        adapter(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long))
    finally:
        for handle in handles:
            handle.remove()
    return seen


@torch.no_grad()
def attention_to_subject(adapter: ModelAdapter, layers: list[int], ids: list[int], subject: range,
                         position: int) -> dict[int, float]:
    """Per layer, the attention weight from ``position`` to the ``subject`` tokens, mean over heads.
    Needs the attention weights, which only the transformers (ARM) families expose."""
    network = adapter.network
    previous = network.config._attn_implementation
    network.set_attn_implementation("eager")  # the fused kernels return no weights
    try:
        weights = network(input_ids=torch.tensor([ids]), output_attentions=True, use_cache=False).attentions
    finally:
        network.set_attn_implementation(previous)
    return {layer: weights[layer][0, :, position, list(subject)].sum(-1).mean().item() for layer in layers}


def reach(keys: torch.Tensor, subject_last: int, second_moment: torch.Tensor | Whitener | None) -> list[float]:
    """c_p at every position of one row whose edit-site inputs are ``keys`` [L, d_in]."""
    keys = keys.double()
    u = whiten(keys[subject_last][None], second_moment)[0]
    return (keys @ u / (keys[subject_last] @ u)).tolist()


def summarise(pairs: list[tuple[str, float]]) -> dict[str, dict[str, float]]:
    """Per group: mean c, mean |c| and the number of positions."""
    table = {}
    for group in GROUPS:
        values = [c for g, c in pairs if g == group]
        if values:
            table[group] = {"mean": sum(values) / len(values), "mean_abs": sum(map(abs, values)) / len(values),
                            "n": len(values)}
    return table


def measure(model_path: str, layers: list[int] | None, limit: int, mom2_samples: int = 2000,
            edit_template: int = 0, mom2_states: str = "clean") -> dict:
    from src.data.sources.factworld import factworld_requests
    from src.factworld.build import cache_root, resolve_model_path
    from src.factworld.tokens import encode_target
    from src.factworld.world import World

    model_dir = resolve_model_path(model_path)
    adapter, tokenizer = load_model(str(model_dir)), load_tokenizer(str(model_dir))
    adapter.eval()
    world_file = Path(model_dir).parent / "world.json"
    if not world_file.is_file():
        raise FileNotFoundError(f"--model {model_path}: no fact world at {world_file}")
    layers = list(range(adapter.num_layers)) if layers is None else layers
    if bad := [layer for layer in layers if not 0 <= layer < adapter.num_layers]:
        raise ValueError(f"--layers {bad}: the model has layers 0..{adapter.num_layers - 1}")
    encode = lambda text: encode_target(tokenizer, text.strip())  # noqa: E731
    found = factworld_requests(world_file, encode, target_lengths=LENGTHS, per_length=-(-limit // len(LENGTHS)),
                               n_neighbors=0, seed=0, edit_template=edit_template)
    rows, relations = [], []
    for req in found.requests[:limit]:
        try:
            case = build_case(req, tokenizer, [], max_target_tokens=64)
        except InvalidRequest:
            continue
        ids, _ = adapter.target_inputs(case.prompt.ids, case.target_ids)
        first, last = subject_first(tokenizer, req.prompt, req.subject), case.prompt.subject_last
        groups = position_groups(len(case.prompt.ids), first, last, len(case.target_ids))
        rows.append((ids, groups, range(first, last + 1)))
        relations.append(req.relation)
    if not rows:
        raise ValueError(f"--model {model_path}: no edit requests could be built from {world_file}")
    texts = [tokenizer(t, truncation=True, max_length=64)["input_ids"]
             for t in load_texts("factworld", mom2_samples, world=World.from_json(world_file), seed=0)]
    texts, source = texts_in_states(adapter, texts, "factworld", mom2_states)
    moments = {layer: cached_second_moment(adapter, str(model_dir), layer, source, texts, cache_root())
               for layer in layers}
    # (group, c_p) pairs per layer and row; one forward pass per row serves every layer.
    pairs: dict[int, list[list[tuple[str, float]]]] = {layer: [] for layer in layers}
    attention: dict[int, list[float]] = {layer: [] for layer in layers}
    for ids, groups, subject in rows:
        inputs = edit_site_inputs(adapter, layers, ids)
        for layer in layers:
            pairs[layer].append(list(zip(groups, reach(inputs[layer], subject[-1], moments[layer]))))
        if adapter.kind == "arm":
            for layer, weight in attention_to_subject(adapter, layers, ids, subject, groups.index("last")).items():
                attention[layer].append(weight)
    per_layer, by_relation = {}, {}
    for layer, per_row in pairs.items():
        per_layer[str(layer)] = summarise([pair for row in per_row for pair in row])
        by_relation[str(layer)] = {rel: summarise([pair for r, row in zip(relations, per_row) if r == rel
                                                   for pair in row]) for rel in sorted(set(relations))}
        for rel, table in by_relation[str(layer)].items():
            if weights := [w for r, w in zip(relations, attention[layer]) if r == rel]:
                table["last"]["attention_to_subject"] = sum(weights) / len(weights)
    return {"model": str(model_dir), "family": adapter.family, "requests": len(rows), "layers": per_layer,
            "by_relation": by_relation}


def format_result(result: dict) -> str:
    groups = [g for g in GROUPS if any(g in row for row in result["layers"].values())]
    lines = [f"{result['family']}: mean c_p (mean |c_p|) of ROME's update at each position group, "
             f"{result['requests']} requests", f"{'layer':<6}" + "".join(f"{g:>20}" for g in groups)]
    for layer, row in result["layers"].items():
        cells = "".join(f"{row[g]['mean']:>+11.3f} ({row[g]['mean_abs']:.3f})" if g in row else f"{'-':>20}"
                        for g in groups)
        lines.append(f"{layer:<6}{cells}")
    # The edit prompt is one template per relation (--edit_template), so the share at its last token is a
    # property of the relation's wording as much as of the model.
    layers = list(result["by_relation"])
    attention = "attention_to_subject" in next(iter(result["by_relation"][layers[0]].values()))["last"]
    lines += ["", "mean c_p at the last prompt token, by relation (its edit template)"
              + (", [attention weight from it to the subject in the layer's attention]" if attention else ""),
              f"{'relation':<14}" + "".join(f"{'layer ' + layer:>18}" for layer in layers)]
    for rel in result["by_relation"][layers[0]]:
        cells = [result["by_relation"][layer][rel]["last"] for layer in layers]
        lines.append(f"{rel:<14}" + "".join(
            f"{c['mean']:>+10.3f}" + (f" [{c['attention_to_subject']:.3f}]" if attention else " " * 8) for c in cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="factworld:<family>[@spec] or a fact-world checkpoint folder")
    parser.add_argument("--layers", type=int, nargs="+", help="edit layers measured (default: all)")
    parser.add_argument("--limit", type=int, default=100, help="edit requests measured")
    parser.add_argument("--mom2_samples", type=int, default=2000, help="world sentences C is computed from")
    parser.add_argument("--edit_template", type=int, default=0,
                        help="which template of each relation is the edit prompt (as --data.source_options)")
    parser.add_argument("--mom2_states", choices=MOM2_STATES, default="clean",
                        help="states of the sentences C is read from (as the edit method's mom2_states)")
    parser.add_argument("--out_dir", help="folder for reach.json (default: runs/reach/<family>)")
    args = parser.parse_args(argv)
    quiet_libraries()
    result = measure(args.model, args.layers, args.limit, args.mom2_samples, args.edit_template,
                     args.mom2_states)
    print(format_result(result))
    write_result(result, args.out_dir, "reach", "reach")
    return result


if __name__ == "__main__":
    main()
