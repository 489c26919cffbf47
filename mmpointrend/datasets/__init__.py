"""Dataset generation helpers (the datasets themselves are mmseg/mmdet's)."""

from .synthetic import (
    CLASSES,
    PALETTE,
    dataset_is_complete,
    generate_synthetic_dataset,
)

__all__ = [
    'CLASSES',
    'PALETTE',
    'dataset_is_complete',
    'generate_synthetic_dataset',
]
