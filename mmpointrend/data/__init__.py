"""Data a user can make on any machine.

The synthetic dataset, the DSB2018 image of a registry package, the
LVIS-to-COCO class mapping and one COCO writer.

The registered dataset classes and transforms are in
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
