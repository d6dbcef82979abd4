"""How much an MDM's prediction of an object token leans on the object's other tokens once they
are revealed: the unedited model's mean NLL of token j, fully masked against every other object
token revealed, for the new objects of the edit requests and for the subjects' true objects.

    python -m src.evaluation.reveal_context --model factworld:dream --length 4

writes ``runs/reveal/<family>/reveal.json``, which ``python -m src.report`` reads.

The intermediate-state correction trains an edit on states with some object tokens revealed. It
helps most where the model predicts a masked token from the revealed ones; where the model keeps
answering from the subject whatever is revealed, every token has to be driven by the edit itself.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from src.data.requests import InvalidRequest
from src.editing.cases import build_case
from src.factworld.tokens import encode_target
from src.evaluation.output import write_result
from src.models import load_model, load_tokenizer
from src.models.padding import left_pad


def object_nll(adapter, rows: list[tuple[list[int], list[int]]], batch_size: int = 256) -> dict[str, list[float]]:
    """Mean NLL per object position j for ``(prompt ids, object ids)`` rows of one length:
    ``masked`` (all object tokens masked) and ``others_revealed`` (all but token j revealed)."""
    length = len(rows[0][1])
    queries = []  # (state, j, ids, position, label)
    for prompt, obj in rows:
        for j in range(length):
            for state, revealed in (("masked", None), ("others_revealed", [i != j for i in range(length)])):
                ids, _ = adapter.target_inputs(prompt, obj, revealed)
                queries.append((state, j, ids, len(prompt) + j, obj[j]))
    sums = {"masked": [0.0] * length, "others_revealed": [0.0] * length}
    with torch.no_grad():
        for start in range(0, len(queries), batch_size):
            chunk = queries[start:start + batch_size]
            ids, mask = left_pad([q[2] for q in chunk], adapter.pad_token_id)
            pos = torch.tensor([ids.shape[1] - len(q[2]) + q[3] for q in chunk])
            logp = F.log_softmax(adapter.token_logits(ids, mask)[torch.arange(len(chunk)), pos].float().cpu(), -1)
            for q, row in zip(chunk, logp):
                sums[q[0]][q[1]] -= float(row[q[4]])
    return {state: [v / len(rows) for v in values] for state, values in sums.items()}


def measure(model_path: str, length: int, limit: int) -> dict:
    from src.data.sources.factworld import factworld_requests
    from src.factworld.build import resolve_model_path

    model_dir = resolve_model_path(model_path)
    adapter, tokenizer = load_model(str(model_dir)), load_tokenizer(str(model_dir))
    if adapter.kind != "mdm":
        raise ValueError(f"--model {model_path}: a {adapter.family} model is autoregressive; "
                         "revealed object tokens exist only in masked diffusion models")
    world_file = Path(model_dir).parent / "world.json"
    if not world_file.is_file():
        raise FileNotFoundError(f"--model {model_path}: no fact world at {world_file}")
    encode = lambda text: encode_target(tokenizer, text.strip())  # noqa: E731
    found = factworld_requests(world_file, encode, target_lengths=[length], per_length=limit, n_neighbors=0, seed=0)
    new, true = [], []
    for req in found.requests:
        try:
            case = build_case(req, tokenizer, [], max_target_tokens=64)
        except InvalidRequest:
            continue
        new.append((case.prompt.ids, case.target_ids))
        true_ids = encode(req.target_true or "")
        if len(true_ids) == length:
            true.append((case.prompt.ids, true_ids))
    if not new:
        raise ValueError(f"--length {length}: no edit requests with a new object of that many tokens")
    result = {"model": str(model_dir), "family": adapter.family, "length": length,
              "new_object": {"n": len(new), **object_nll(adapter, new)}}
    if true:
        result["true_object"] = {"n": len(true), **object_nll(adapter, true)}
    return result


def format_result(result: dict) -> str:
    length = result["length"]
    lines = [f"{result['family']}: mean NLL of object token j (N = {length}), unedited model",
             f"{'':32}" + "".join(f"{'j=' + str(j):>8}" for j in range(length)) + "       n"]
    for which in ("new_object", "true_object"):
        if which not in result:
            continue
        for state in ("masked", "others_revealed"):
            label = f"{which.replace('_', ' ')}, {state.replace('_', ' ')}"
            values = "".join(f"{v:8.2f}" for v in result[which][state])
            lines.append(f"{label:32}{values}{result[which]['n']:8d}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="an MDM: factworld:<llada|dream>[@spec] or a checkpoint folder")
    parser.add_argument("--length", type=int, default=4, help="object length N in tokens")
    parser.add_argument("--limit", type=int, default=100, help="edit requests measured")
    parser.add_argument("--out_dir", help="folder for reveal.json (default: runs/reveal/<family>)")
    args = parser.parse_args(argv)
    result = measure(args.model, args.length, args.limit)
    print(format_result(result))
    write_result(result, args.out_dir, "reveal", "reveal")
    return result


if __name__ == "__main__":
    main()
