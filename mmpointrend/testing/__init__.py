"""Synthetic inputs and tiny models shared by tests, docs and benchmarks."""

from ..apis.inference import build_model as build_model_from_config
from ..apis.inference import resolve_config
from ._utils import demo_seg_batch, tiny_segmentor_cfg

__all__ = [
    'build_model_from_config',
    'demo_seg_batch',
    'resolve_config',
    'tiny_segmentor_cfg',
]
