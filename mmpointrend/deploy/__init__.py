"""Export of PointRend models to ONNX (see docs/deployment.md)."""

from .onnx_export import (
    DEFAULT_OPSET,
    TENSORRT_MAX_TOPK,
    SegmentorExporter,
    export_detector,
    export_segmentor,
    limit_points,
)

__all__ = [
    'DEFAULT_OPSET',
    'TENSORRT_MAX_TOPK',
    'SegmentorExporter',
    'export_detector',
    'export_segmentor',
    'limit_points',
]
