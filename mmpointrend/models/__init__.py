"""Models; importing this package registers every component."""

from .decode_heads import PointRendSemSegHead
from .heads import PointMLP
from .segmentors import PointRendEncoderDecoder
from .utils import UncertaintyPointSampler

__all__ = [
    'PointMLP',
    'PointRendEncoderDecoder',
    'PointRendSemSegHead',
    'UncertaintyPointSampler',
]
