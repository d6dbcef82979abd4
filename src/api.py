"""The Python API: ``src.edit`` and ``src.trace``, each the command line run from Python.

    import src
    result = src.edit("factworld:llama", [{"prompt": "{} works as a", "subject": "...", "target_new": "..."}])
    result.metrics       # one record per request, as in edits.jsonl (efficacy, generalisation, ...)
    result.model         # the edited model adapter, the written updates merged into its weights
    result.save("out/")  # a checkpoint folder in the family's own format, tokenizer beside it
    summary = src.trace("factworld:llama", n_facts=10)   # what src.trace's summary.json holds

``edit`` runs ``src.fit.main`` (the LightningCLI behind ``python -m src.fit``): the shipped config
of the model's family and the method gives every default, the requests reach the data module as a
request file (``data.source: requests``), and options override the config by name. Edits are
kept in the weights as they are written (``sequential``), so the returned model holds them all;
by default one at a time (``batch_size=1``), each computed on the model the earlier ones left.
An edit's metrics are measured when it is written: a later edit may still move it.
``trace`` runs ``src.trace.main`` with a ``TraceConfig``.
"""
from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from inspect import signature
from pathlib import Path
from typing import Any

from src.data.requests import EditRequest
from src.models.base import ModelAdapter

# The shipped config of each (family, method): fact-world models, then real checkpoints.
FACTWORLD_CONFIGS = {
    "rome": {"llama": "llama_rome", "qwen": "qwen_rome", "llada": "llada_corrected", "dream": "dream_corrected"},
    "memit": {"llama": "llama_memit", "qwen": "qwen_memit", "llada": "llada_memit_corrected",
              "dream": "dream_memit_corrected"},
    "ft": {"llama": "llama_ft", "llada": "llada_ft"},
    "lora": {"llama": "llama_lora", "llada": "llada_lora"},
}
REAL_CONFIGS = {
    "rome": {"llama": "real/llama3_8b_rome", "qwen": "real/qwen25_7b_rome", "llada": "real/llada_8b_corrected",
             "dream": "real/dream_7b_corrected"},
    "memit": {"llama": "real/llama3_8b_memit"},
}


@dataclass
class EditResult:
    """What ``edit`` returns."""

    metrics: list[dict[str, Any]]
    """One record per request, in request order, as ``edits.jsonl`` holds it (``status`` ok or
    failed with its ``reason``; efficacy, generalisation, specificity, loss trace, generated text)."""
    model: ModelAdapter
    """The edited model: every ok edit's update merged into its weights."""
    tokenizer: Any
    folder: Path
    """The run folder: edits.jsonl, summary.json, config.yaml, loss curves, the request file."""

    def save(self, folder: str | Path) -> Path:
        """The edited model as a checkpoint folder in its family's own format with its tokenizer:
        ``src.models.load_model`` reads it, and transformers does for the ARMs (llama, qwen)."""
        folder = Path(folder)
        self.model.save(folder)
        self.tokenizer.save_pretrained(str(folder))
        return folder


def default_config(model_dir: Path, model_path: str, method: str) -> str:
    """The shipped fit config for the folder's family and ``method``."""
    from src.models import family_of

    family = family_of(model_dir)
    factworld = model_path.startswith("factworld:") or (model_dir.parent / "world.json").is_file()
    table = FACTWORLD_CONFIGS if factworld else REAL_CONFIGS
    if method not in table:
        raise ValueError(f"method {method!r}: choose from {sorted(table)} (or pass config=)")
    if family not in table[method]:
        raise ValueError(f"no shipped {method} config for {family} models; pass config= (a fit config)")
    return table[method][family] + ".yaml"


def _value(value: Any) -> str:
    # Strings as they are; everything else as JSON, which the CLI's parser reads as YAML.
    return value if isinstance(value, str) else json.dumps(value)


def _request_dicts(requests: Sequence[Mapping[str, Any] | EditRequest]) -> list[dict[str, Any]]:
    out = []
    for i, req in enumerate(requests):
        record = req.to_dict() if isinstance(req, EditRequest) else dict(req)
        record["case_id"] = str(record.get("case_id", i))  # as edits.jsonl writes it
        out.append(record)
    ids = [r["case_id"] for r in out]
    if len(set(ids)) != len(ids):
        raise ValueError(f"repeated case ids: {sorted({i for i in ids if ids.count(i) > 1})}")
    return out


def edit(model_path: str, requests: Sequence[Mapping[str, Any] | EditRequest], method: str = "rome", *,
         config: str | None = None, out_dir: str | Path | None = None,
         trainer: Mapping[str, Any] | None = None, **options: Any) -> EditResult:
    """Edit ``requests`` into the model, as ``python -m src.fit`` does.

    Args:
        model_path: checkpoint folder, or ``factworld:<family>[@<pretrain config>]``.
        requests: dicts of ``EditRequest`` fields (``prompt`` with one "{}" for the subject,
            ``subject``, ``target_new``; optional ``target_true``, ``paraphrase_prompts``,
            ``neighborhood_prompts`` with ``neighborhood_targets``, ``case_id``), or EditRequests.
        method: rome, memit, ft or lora; picks the shipped config of the model's family.
        config: a fit config (name or path) to start from instead.
        out_dir: where the run folder goes (default: a new temporary folder).
        trainer: Trainer options, e.g. ``{"accelerator": "gpu", "devices": 1}``.
        **options: the method's options (``layers``, ``lr``, ...) and the data module's (``steps``,
            ``batch_size``, ``schedule``, ...), by name.
    """
    from callbacks.results import read_records
    from src.data.datamodule import EditDataModule
    from src.fit import main
    from src.factworld.build import resolve_model_path

    if options.get("sequential") is False:
        raise ValueError("sequential=False leaves the weights unedited; run python -m src.fit for "
                         "edits measured one by one")
    records = _request_dicts(requests)
    config = config or default_config(resolve_model_path(model_path), model_path, method)
    out = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="mdm-edit-"))
    out.mkdir(parents=True, exist_ok=True)
    request_file = out / "requests.json"
    request_file.write_text(json.dumps(records, indent=1, ensure_ascii=False))
    data_names = set(signature(EditDataModule.__init__).parameters) - {"self"}
    # Every request is edited: the config's length-controlled selection is for its own source.
    overrides = {"data.source": "requests", "data.path": str(request_file), "data.target_lengths": None,
                 "data.per_length": None, "data.limit": None,
                 "model.init_args.model_path": model_path, "model.init_args.sequential": True,
                 "trainer.logger.init_args.save_dir": str(out)}
    # One edit per group: a group's edits are optimised apart, then merged together unmeasured.
    options.setdefault("batch_size", 1)
    overrides |= {(f"data.{k}" if k in data_names else f"model.init_args.{k}"): v for k, v in options.items()}
    overrides |= {f"trainer.{k}": v for k, v in (trainer or {}).items()}
    argv = ["--config", config] + [a for key, v in overrides.items() for a in (f"--{key}", _value(v))]
    cli = main(argv)
    folder = Path(cli.trainer.log_dir)
    done = read_records(folder)
    method_module = cli.model
    return EditResult([done[r["case_id"]] for r in records if r["case_id"] in done],
                      method_module.adapter.eval(), method_module.tokenizer, folder)


def trace(model_path: str, **options: Any) -> dict[str, Any]:
    """Causal tracing of facts of the model's world, as ``python -m src.trace`` does; returns the
    summary (``effect`` per kind, ``peak_mlp``, ...). ``options`` are ``TraceConfig``'s fields;
    ``out_dir`` defaults to a new temporary folder."""
    from src.trace import TraceConfig, main

    options.setdefault("out_dir", tempfile.mkdtemp(prefix="mdm-trace-"))
    return main(TraceConfig(model_path=model_path, **options))
