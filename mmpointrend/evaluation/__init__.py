"""Evaluation metrics."""

from .boundary import boundary_band, boundary_dilation, boundary_iou, dilate
from .boundary_coco_metric import (
    BoundaryCOCOeval,
    BoundaryCocoMetric,
    rle_boundary,
)
from .boundary_iou_metric import (
    BoundaryIoUMetric,
    boundary_stats,
    label_boundary,
)
from .lvis_metric import LVISCompatMetric, numpy_float_alias

__all__ = [
    'BoundaryCOCOeval',
    'BoundaryCocoMetric',
    'rle_boundary',
    'BoundaryIoUMetric',
    'LVISCompatMetric',
    'boundary_band',
    'boundary_dilation',
    'boundary_iou',
    'boundary_stats',
    'dilate',
    'label_boundary',
    'numpy_float_alias',
]
