"""The DSB2018 nuclei image shipped in the ``stardist`` wheel, as datasets.

``stardist`` (BSD-3-Clause) ships one 512x512 fluorescence image of the 2018
Data Science Bowl with its instance labels (125 nuclei) in
``stardist/data/images/{img2d,mask2d}.tif``. The files are read from the
installed package with ``tifffile``; stardist itself is never imported (it
needs TensorFlow). Install the files with ``pip install --no-deps stardist``.

The image is split spatially: columns ``[0, split)`` for training, the rest
for testing. Nuclei cut by the split keep their part on each side. Output is
the mmseg layout (background 0 / nucleus 1) and COCO instances, like the
synthetic dataset. One image: results on it are indicative only.
"""

from __future__ import annotations

import importlib.util
import os
import os.path as osp

import numpy as np

from mmpointrend.checkpoint.io import write_image

from .coco_writer import write_coco_instances

CLASSES = ('background', 'nucleus')


def stardist_images_dir() -> str:
    """Folder of stardist's bundled images, found without importing it.

    Returns:
        str: ``.../stardist/data/images``.
    """
    spec = importlib.util.find_spec('stardist')
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            'the stardist package is not installed; run '
            '`pip install --no-deps stardist` (only its data files are used)'
        )
    folder = osp.join(spec.submodule_search_locations[0], 'data', 'images')
    for name in ('img2d.tif', 'mask2d.tif'):
        if not osp.isfile(osp.join(folder, name)):
            raise FileNotFoundError(f'{name} is missing from {folder}')
    return folder


def _to_uint8(image: np.ndarray) -> np.ndarray:
    """Percentile-normalise a fluorescence image to 3-channel uint8."""
    lo, hi = np.percentile(image, (1, 99.8))
    scaled = np.clip((image.astype(np.float32) - lo) / max(hi - lo, 1), 0, 1)
    gray = (scaled * 255).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=2)


def convert_dsb2018(out_dir: str, split: int = 384) -> dict[str, int]:
    """Write the train/test crops in the mmseg layout and COCO format.

    Args:
        out_dir (str): Dataset root.
        split (int): First test column. Defaults to 384 (3/4 for training).

    Returns:
        dict[str, int]: Instances per split.
    """
    import tifffile

    folder = stardist_images_dir()
    image = tifffile.imread(osp.join(folder, 'img2d.tif'))
    labels = tifffile.imread(osp.join(folder, 'mask2d.tif'))
    if image.shape != labels.shape or not 0 < split < image.shape[1]:
        raise ValueError(
            f'unexpected image {image.shape} / labels {labels.shape} or '
            f'split {split}'
        )
    picture = _to_uint8(image)
    counts = {}
    for name, cols in (
        ('train', slice(0, split)),
        ('val', slice(split, None)),
    ):
        img_dir = osp.join(out_dir, 'img_dir', name)
        ann_dir = osp.join(out_dir, 'ann_dir', name)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        crop, lab = picture[:, cols], labels[:, cols]
        file_name = f'dsb2018_{name}.png'
        write_image(osp.join(img_dir, file_name), crop)
        write_image(osp.join(ann_dir, file_name), (lab > 0).astype(np.uint8))
        image = dict(
            id=1,
            file_name=file_name,
            height=crop.shape[0],
            width=crop.shape[1],
        )
        counts[f'{name}_instances'] = write_coco_instances(
            osp.join(out_dir, 'annotations', f'instances_{name}.json'),
            [image],
            ((1, 1, lab == inst) for inst in np.unique(lab[lab > 0])),
            CLASSES[1:],
        )
    return counts
