"""Synthetic inputs and tiny models shared by tests, docs and benchmarks."""

from ._utils import demo_seg_batch, resolve_config, tiny_segmentor_cfg

__all__ = ['demo_seg_batch', 'resolve_config', 'tiny_segmentor_cfg']
