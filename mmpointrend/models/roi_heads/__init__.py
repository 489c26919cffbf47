"""Instance-segmentation components for mmdet's two-stage detectors."""

from .mask_heads import PointRendCoarseMaskHead, PointRendMaskPointHead
from .pointrend_roi_head import PointRendMaskRoIHead
from .roi_extractors import GridRoIExtractor

__all__ = [
    'GridRoIExtractor',
    'PointRendCoarseMaskHead',
    'PointRendMaskPointHead',
    'PointRendMaskRoIHead',
]
