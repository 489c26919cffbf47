"""Synthetic inputs and tiny models for tests, docs and benchmarks."""

from ._utils import demo_seg_batch, random_bn_statistics, tiny_segmentor_cfg

__all__ = ['demo_seg_batch', 'random_bn_statistics', 'tiny_segmentor_cfg']
