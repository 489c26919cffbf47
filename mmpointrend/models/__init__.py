"""Models; importing this package registers every component."""

from .decode_heads import PointRendSemSegHead
from .refiners import PointRendRefiner, degrade_masks
from .roi_heads import (
    FourierPointEncoding,
    GridRoIExtractor,
    ImplicitParamHead,
    ImplicitPointHead,
    ImplicitPointRendRoIHead,
    PointRendCascadeRoIHead,
    PointRendCoarseMaskHead,
    PointRendMaskPointHead,
    PointRendMaskRoIHead,
)
from .segmentors import PointRendEncoderDecoder
from .utils import PointMLP, UncertaintyPointSampler

__all__ = [
    'FourierPointEncoding',
    'GridRoIExtractor',
    'ImplicitParamHead',
    'ImplicitPointHead',
    'ImplicitPointRendRoIHead',
    'PointMLP',
    'PointRendCascadeRoIHead',
    'PointRendCoarseMaskHead',
    'PointRendEncoderDecoder',
    'PointRendMaskPointHead',
    'PointRendMaskRoIHead',
    'PointRendRefiner',
    'PointRendSemSegHead',
    'UncertaintyPointSampler',
    'degrade_masks',
]
