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
from .refine import refine_label_map, refine_masks

__all__ = [
    'PointRendDetInferencer',
    'PointRendInferencer',
    'PointRendSegInferencer',
    'build_model',
    'inference_model',
    'init_model',
    'refine_label_map',
    'refine_masks',
    'resolve_config',
]
