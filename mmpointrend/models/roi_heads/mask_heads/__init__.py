"""Mask heads of instance PointRend."""

from .coarse_mask_head import PointRendCoarseMaskHead
from .mask_point_head import PointRendMaskPointHead

__all__ = ['PointRendCoarseMaskHead', 'PointRendMaskPointHead']
