"""Mask heads of instance PointRend."""

from .coarse_mask_head import PointRendCoarseMaskHead
from .implicit_point_head import (
    FourierPointEncoding,
    ImplicitParamHead,
    ImplicitPointHead,
)
from .mask_point_head import PointRendMaskPointHead

__all__ = [
    'FourierPointEncoding',
    'ImplicitParamHead',
    'ImplicitPointHead',
    'PointRendCoarseMaskHead',
    'PointRendMaskPointHead',
]
