"""Instance-segmentation components for mmdet's two-stage detectors."""

from .implicit_pointrend_roi_head import ImplicitPointRendRoIHead
from .mask_heads import (
    FourierPointEncoding,
    ImplicitParamHead,
    ImplicitPointHead,
    PointRendCoarseMaskHead,
    PointRendMaskPointHead,
)
from .pointrend_cascade_roi_head import PointRendCascadeRoIHead
from .pointrend_roi_head import PointRendMaskRoIHead
from .roi_extractors import GridRoIExtractor

__all__ = [
    'FourierPointEncoding',
    'GridRoIExtractor',
    'ImplicitParamHead',
    'ImplicitPointHead',
    'ImplicitPointRendRoIHead',
    'PointRendCascadeRoIHead',
    'PointRendCoarseMaskHead',
    'PointRendMaskPointHead',
    'PointRendMaskRoIHead',
]
