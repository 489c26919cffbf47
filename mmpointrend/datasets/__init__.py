"""Registered datasets and transforms (subclasses of mmdet's and mmseg's)."""

from .coco_checks import (
    CheckedCocoDataset,
    check_coco_categories,
    repair_degenerate_polygons,
)
from .transforms import LoadSegAnnotations

__all__ = [
    'CheckedCocoDataset',
    'LoadSegAnnotations',
    'check_coco_categories',
    'repair_degenerate_polygons',
]
