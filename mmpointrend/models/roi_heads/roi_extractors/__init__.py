"""RoI feature extractors."""

from .grid_roi_extractor import GridRoIExtractor

__all__ = ['GridRoIExtractor']
