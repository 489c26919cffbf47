"""Evaluation metrics."""

from .lvis_metric import LVISCompatMetric, numpy_float_alias

__all__ = ['LVISCompatMetric', 'numpy_float_alias']
