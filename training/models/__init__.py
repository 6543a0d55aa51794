"""Linli recommenders: one contract (:class:`Recommender`), one config per model, one registry."""

from __future__ import annotations

from training.models.base import FactorModel, ModelConfig, Recommender, top_k

# kind -> "module:Class"; filled as models are added (imported lazily so implicit/lightfm
# load only when their model is used)
REGISTRY: dict[str, str] = {
    "popularity": "training.models.popularity:Popularity",
    "group_popularity": "training.models.popularity:GroupPopularity",
    "repeat": "training.models.repeat:Repeat",
    "p_topfreq": "training.models.repeat:PTopFreq",
    "gp_topfreq": "training.models.repeat:GPTopFreq",
    "itemknn": "training.models.itemknn:ItemKNN",
    "als": "training.models.mf:ALS",
    "bpr": "training.models.mf:BPR",
    "lightfm": "training.models.lightfm_model:LightFMHybrid",
    "tifuknn": "training.models.tifuknn:TIFUKNN",
    "blend": "training.models.blend:RepeatBlend",
}


def model_class(kind: str) -> type[Recommender]:
    """The Recommender class registered under `kind`."""
    import importlib

    if kind not in REGISTRY:
        raise KeyError(f"unknown model {kind!r}; known: {', '.join(sorted(REGISTRY))}")
    module, cls = REGISTRY[kind].split(":")
    return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]


def build_model(kind: str, **params: object) -> Recommender:
    """A new, unfitted model of `kind` with its config built from `params`."""
    return model_class(kind)(None, **params)


__all__ = [
    "REGISTRY",
    "FactorModel",
    "ModelConfig",
    "Recommender",
    "build_model",
    "model_class",
    "top_k",
]
