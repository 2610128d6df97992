"""Short node type names -> node classes. YAML names types here, never import paths.

Built-in types are listed with lazy ``"module:Class"`` targets so that validating a graph
imports only the node modules it uses (and never torch). Third-party packages add node types
through the ``socratic.nodes`` entry-point group (``name = "pkg.module:NodeClass"``): installing
a package is the user's decision; a YAML file can only pick among registered names.

Example:
    >>> from socratic.registry import node_class, node_type_names
    >>> "llm.generate" in node_type_names()
    True
    >>> node_class("llm.generat")
    Traceback (most recent call last):
    socratic.errors.GraphError: <graph>: error: unknown node type 'llm.generat' (did you mean 'llm.generate'?)
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import GraphError, did_you_mean, shorten

_BUILTIN: dict[str, str] = {
    # text and control
    "text.template": "socratic.nodes.text:Template",
    "text.join": "socratic.nodes.text:Join",
    "text.parse": "socratic.nodes.text:Parse",
    "list.flatten": "socratic.nodes.text:Flatten",
    "vote.majority": "socratic.nodes.vote:MajorityVote",
    # LLMs
    "llm.generate": "socratic.nodes.llm:Generate",
    # vision
    "clip.classify": "socratic.nodes.clip:ClipClassify",
    "clip.rank": "socratic.nodes.clip:ClipRank",
    "clip.embed_image": "socratic.nodes.clip:EmbedImage",
    "clip.embed_text": "socratic.nodes.clip:EmbedText",
    "clip.compose": "socratic.nodes.clip:Compose",
    "clip.descriptor_classify": "socratic.recipes.descriptors:DescriptorClassify",
    "descriptors.load": "socratic.recipes.descriptors:LoadDescriptors",
    "descriptors.save": "socratic.recipes.descriptors:SaveDescriptors",
    "socratic.evidence": "socratic.recipes.socratic_caption:SocraticEvidence",
    "retrieval.search": "socratic.recipes.retrieval:Search",
    "caption.generate": "socratic.nodes.caption:Caption",
    # data filters (LAION / CC style) and BLIP's CapFilt
    "filter.clip_score": "socratic.recipes.filtering:ClipScoreFilter",
    "filter.text": "socratic.recipes.filtering:TextFilter",
    "filter.image": "socratic.recipes.filtering:ImageFilter",
    "filter.dedup": "socratic.recipes.filtering:Deduplicate",
    "filter.captions": "socratic.recipes.filtering:CapFilt",
    "fromage.respond": "socratic.recipes.fromage:FromageRespond",
    "flamingo.generate": "socratic.recipes.flamingo:FlamingoGenerate",
    "pgn.classify": "socratic.recipes.pgn:PGNClassify",
    # reasoning recipes
    "fewshot.episode": "socratic.recipes.reasoning:FewShotEpisode",
    "fewshot.select": "socratic.recipes.reasoning:SelectShots",
    "reason.chain_of_thought": "socratic.recipes.reasoning:ChainOfThought",
}

_registry: dict[str, Any] = dict(_BUILTIN)
_entry_points_loaded = False


def register_node(name: str, target: Any) -> None:
    """Register a node class (or a lazy ``"module:Class"`` string) under a short name."""
    _registry[name] = target
    if isinstance(target, type) and not target.__dict__.get("type_name"):
        target.type_name = name


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group="socratic.nodes"):
        _registry.setdefault(ep.name, ep.value)


def builtin_node_type_names() -> list[str]:
    """The node types shipped with socratic."""
    return sorted(_BUILTIN)


def node_type_names() -> list[str]:
    _load_entry_points()
    return sorted(_registry)


def _resolve(target: str) -> Any:
    module, _, qualname = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def node_class(name: str) -> Any:
    """The node class registered as ``name``; a close-match hint when unknown."""
    _load_entry_points()
    if name not in _registry:
        raise GraphError(f"unknown node type '{shorten(name, 100)}'{did_you_mean(name, _registry)}")
    target = _registry[name]
    if isinstance(target, str):
        target = _resolve(target)
        _registry[name] = target
        if not target.__dict__.get("type_name"):
            target.type_name = name
    return target
