"""Synthetic inputs and tiny models shared by tests, docs and benchmarks."""

from ._utils import (
    build_model_from_config,
    demo_seg_batch,
    resolve_config,
    tiny_segmentor_cfg,
)

__all__ = [
    'build_model_from_config',
    'demo_seg_batch',
    'resolve_config',
    'tiny_segmentor_cfg',
]
