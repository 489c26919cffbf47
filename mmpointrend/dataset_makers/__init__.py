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


def prepare_dataset(data: str, root: str) -> None:
    """Write the study dataset ``data`` to ``root`` unless it is there.

    Args:
        data (str): ``'synthetic'`` (any complete dataset at ``root`` is
            used as is: tests write a tiny one) or ``'dsb2018'`` (needs
            stardist's data files, see
            ``tools/dataset_converters/dsb2018_from_stardist.py``).
        root (str): Dataset folder.
    """
    import os.path as osp

    if data == 'synthetic':
        if not dataset_is_complete(root, num_train=1, num_val=1):
            print(f'writing the synthetic dataset to {root}', flush=True)
            generate_synthetic_dataset(root)
    elif not osp.isfile(osp.join(root, 'annotations', 'instances_val.json')):
        from .dsb2018 import convert_dsb2018

        print(f'writing DSB2018 to {root}', flush=True)
        convert_dsb2018(root)


__all__ = [
    'CLASSES',
    'dataset_is_complete',
    'generate_synthetic_dataset',
    'prepare_dataset',
    'render_scene',
    'write_coco_instances',
]
