"""Dataset generation helpers and transforms (datasets are mmseg/mmdet's)."""

from .coco_checks import (
    CheckedCocoDataset,
    check_coco_categories,
    repair_degenerate_polygons,
)
from .synthetic import (
    CLASSES,
    PALETTE,
    dataset_is_complete,
    generate_synthetic_dataset,
)
from .transforms import LoadSegAnnotations

__all__ = [
    'CheckedCocoDataset',
    'LoadSegAnnotations',
    'check_coco_categories',
    'repair_degenerate_polygons',
    'CLASSES',
    'PALETTE',
    'dataset_is_complete',
    'generate_synthetic_dataset',
]
