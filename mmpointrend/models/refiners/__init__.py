"""Refiners: PointRend applied to masks that another model made."""

from .degrade import degrade_masks
from .point_refiner import PointRendRefiner, masks_to_boxes

__all__ = ['PointRendRefiner', 'degrade_masks', 'masks_to_boxes']
