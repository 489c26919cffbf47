"""Semantic-segmentation decode heads."""

from .pointrend_sem_seg_head import PointRendSemSegHead

__all__ = ['PointRendSemSegHead']
