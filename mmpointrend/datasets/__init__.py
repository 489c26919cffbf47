"""Registered datasets and transforms (subclasses of mmdet's and mmseg's)."""

from .coco_checks import (
    CheckedCocoDataset,
    check_coco_categories,
    repair_degenerate_polygons,
)
from .point_sup import (
    LoadPointAnnotations,
    PackPointSupInputs,
    PointSupCocoDataset,
)
from .transforms import LoadSegAnnotations

__all__ = [
    'CheckedCocoDataset',
    'LoadPointAnnotations',
    'LoadSegAnnotations',
    'PackPointSupInputs',
    'PointSupCocoDataset',
    'check_coco_categories',
    'repair_degenerate_polygons',
]
