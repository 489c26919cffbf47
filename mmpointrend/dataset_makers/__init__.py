"""Makers of dataset files: what a user can generate or convert on disk.

The synthetic dataset, the DSB2018 image of a registry package, the
LVIS-to-COCO class mapping, PointSup point annotations from COCO masks and
one COCO writer. They write files; nothing here is registered.

The registered dataset classes and transforms that *read* datasets are in
:mod:`mmpointrend.datasets`.
"""

from .coco_writer import write_coco_instances
from .synthetic import (
    CLASSES,
    dataset_is_complete,
    generate_synthetic_dataset,
    render_scene,
)

__all__ = [
    'CLASSES',
    'dataset_is_complete',
    'generate_synthetic_dataset',
    'render_scene',
    'write_coco_instances',
]
