"""A ``World`` of real facts from a local KAMEL copy, and its cached models.

Facts are read by ``src.data.sources.kamel`` (either layout, any split, every record loaded or
rejected with its reason); prompts are the project's declarative templates where written, else
the relation's question as a question-answer prompt. ``python -m src.pretrain --config kamel.yaml``
builds such a world from the relations a config names (``KamelWorldConfig``) and trains the
families on it, cached under ``<cache>/kamel/<hash>/`` in the fact world's layout, so a model
folder there serves ``src.fit`` and ``src.trace`` (its ``world.json`` is beside it).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from src.data.sources import data_root, rejection_reasons
from src.data.sources.kamel import declarative_templates, kamel_templates, read_kamel

from .world import Fact, Relation, World

# Relations whose objects vary in length (one-word places to five-word universities), with
# templates that put the subject at the start and in the middle.
DEFAULT_RELATIONS = ("P19", "P20", "P27", "P69", "P108", "P264")
KAMEL_RELATIONS: dict[str, list[str]] = {r: declarative_templates()[r] for r in DEFAULT_RELATIONS}


def kamel_world(root: str | Path | None = None,
                relations: Mapping[str, Sequence[str]] | Sequence[str] | None = None,
                max_facts_per_relation: int | None = None, split: str = "test") -> World:
    """Build a world from the KAMEL folder ``root`` (default ``data_root() / "kamel"``).

    ``relations``: relation ids (folder names, e.g. "P19"), or a map from id to templates
    (default ``KAMEL_RELATIONS``); ids alone take ``kamel_templates``. ``max_facts_per_relation``
    keeps the first facts of each. ``meta["rejected"]`` counts the records not taken, by reason.
    """
    root = Path(root) if root is not None else data_root() / "kamel"
    relations = relations if relations is not None else KAMEL_RELATIONS
    templates = dict(relations) if isinstance(relations, Mapping) else kamel_templates(root, relations)
    read = read_kamel(root, templates, split)
    facts: list[Fact] = []
    world_relations: list[Relation] = []
    for name, prompts in templates.items():
        mine = [f for f in read.facts if f.relation == name][:max_facts_per_relation]
        facts += [Fact(f.subject, name, f.object) for f in mine]
        world_relations.append(Relation(name, list(prompts), sorted({f.object for f in mine})))
    subjects = list(dict.fromkeys(fact.subject for fact in facts))
    return World(world_relations, subjects, facts, seed=0,
                 meta={"source": "kamel", "root": str(root), "split": split,
                       "max_facts_per_relation": max_facts_per_relation, "rejected": dict(rejection_reasons(read))})


@dataclass
class KamelWorldConfig:
    """Which KAMEL facts a pretraining world holds (``kamel:`` in a pretrain config)."""

    relations: list[str] | None = None
    """Relation ids (folder names, e.g. P19); default the six of KAMEL_RELATIONS."""
    root: str | None = None
    """KAMEL folder; default $KE_DATA_ROOT/kamel."""
    split: str = "test"
    """File read in each relation folder: train, dev or test."""
    max_facts_per_relation: int | None = 50
    """First facts kept per relation (null: all)."""

    def world(self) -> World:
        return kamel_world(self.root, self.relations, self.max_facts_per_relation, self.split)


def kamel_dir(spec, config: KamelWorldConfig) -> Path:
    """``<cache>/kamel/<hash of the model spec and the KAMEL selection>``."""
    from .build import cache_root

    root = str(Path(config.root or data_root() / "kamel").resolve())
    key = json.dumps({"spec": spec.spec_hash(), "kamel": {**asdict(config), "root": root}}, sort_keys=True)
    return cache_root() / "kamel" / hashlib.sha256(key.encode()).hexdigest()[:12]


def _world_files(spec, config: KamelWorldConfig, folder: Path) -> None:
    from .tokenizer import train_tokenizer

    world = config.world()
    (folder / "spec.json").write_text(json.dumps({**asdict(spec), "kamel": asdict(config)}, indent=2) + "\n")
    world.to_json(folder / "world.json")
    print(f"KAMEL world: {len(world.facts)} facts of {len(world.relations)} relations "
          f"({config.split} split); records not taken: {world.meta['rejected'] or 'none'}")
    train_tokenizer(world.corpus_text(), spec.vocab_size).save_pretrained(str(folder / "tokenizer"))


def ensure_kamel_models(spec, config: KamelWorldConfig, families: list[str] | None = None):
    """The world, tokenizer and models (trained where missing, as the fact world's are) of a
    KAMEL selection; ``families=[]`` builds the world only. Returns ``FactWorldAssets``."""
    from .build import FactWorldAssets, _locked, _publish, train_families
    from .families import FAMILY_ORDER

    root = kamel_dir(spec, config)
    root.parent.mkdir(parents=True, exist_ok=True)
    wanted = set(FAMILY_ORDER if families is None else families)
    if "dream" in wanted:
        wanted.add("qwen")  # dream starts from the trained qwen
    with _locked(root.with_suffix(".lock")):
        if not root.is_dir():
            _publish(lambda tmp: _world_files(spec, config, tmp), root)
    assets = FactWorldAssets(root, root / "world.json", root / "tokenizer",
                             {f: root / f for f in FAMILY_ORDER if (root / f / "config.json").is_file()})
    train_families(spec, assets, wanted)
    return assets
