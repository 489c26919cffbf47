"""mmdet's LVIS metric, runnable with NumPy >= 1.24."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np
from mmdet.evaluation.metrics import LVISMetric

from mmpointrend.registry import METRICS


@contextlib.contextmanager
def numpy_float_alias() -> Iterator[None]:
    """Provide ``np.float`` while the block runs.

    The latest ``lvis`` release (0.5.3) still uses ``np.float``, which NumPy
    removed in 1.24; the alias is added only for the duration of the LVIS
    evaluation and removed afterwards.
    """
    added = not hasattr(np, 'float')
    if added:
        np.float = float  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if added:
            del np.float  # type: ignore[attr-defined]


@METRICS.register_module()
class LVISCompatMetric(LVISMetric):
    """:class:`mmdet.evaluation.LVISMetric` that works with NumPy 2.

    Same arguments and results as mmdet's metric (``lvis/segm_AP`` etc.);
    used for the paper's AP* on COCO-fied LVIS annotations.
    """

    def compute_metrics(self, results: Sequence) -> dict:
        """Evaluate with the ``lvis`` API.

        Args:
            results (Sequence): Collected ground truth and predictions.

        Returns:
            dict: LVIS metrics.
        """
        with numpy_float_alias():
            return super().compute_metrics(list(results))
