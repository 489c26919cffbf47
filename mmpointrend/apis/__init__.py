"""Inference API: zoo names or configs to models, and models to predictions."""

from .inference import (
    build_model,
    inference_model,
    init_model,
    resolve_config,
)
from .inferencers import (
    PointRendDetInferencer,
    PointRendInferencer,
    PointRendSegInferencer,
)

__all__ = [
    'PointRendDetInferencer',
    'PointRendInferencer',
    'PointRendSegInferencer',
    'build_model',
    'inference_model',
    'init_model',
    'resolve_config',
]
