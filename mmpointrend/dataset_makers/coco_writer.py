"""One writer of COCO instance annotations with RLE masks."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import numpy as np
from pycocotools import mask as mask_utils

from mmpointrend.checkpoint.io import write_text


def write_coco_instances(
    path: str,
    images: Sequence[dict],
    instances: Iterable[tuple[int, int, np.ndarray]],
    class_names: Sequence[str],
) -> int:
    """Write a COCO instance file whose masks are compressed RLE.

    Args:
        path (str): Output ``.json`` (its folder is created).
        images (Sequence[dict]): COCO image entries (``id``, ``file_name``,
            ``height``, ``width``).
        instances (Iterable[tuple]): ``(image_id, category_id, mask)`` with
            an (H, W) binary mask; annotation ids are assigned 1, 2, ...
        class_names (Sequence[str]): Category names; category ``i + 1`` is
            ``class_names[i]``.

    Returns:
        int: Number of annotations written.
    """
    annotations = []
    for image_id, category_id, mask in instances:
        rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        bbox = mask_utils.toBbox(rle).tolist()
        rle['counts'] = rle['counts'].decode('ascii')
        annotations.append(
            dict(
                id=len(annotations) + 1,
                image_id=image_id,
                category_id=category_id,
                segmentation=rle,
                area=float(mask_utils.area(rle)),
                bbox=bbox,
                iscrowd=0,
            )
        )
    categories = [
        dict(id=i + 1, name=name) for i, name in enumerate(class_names)
    ]
    text = json.dumps(
        dict(
            images=list(images),
            annotations=annotations,
            categories=categories,
        ),
    )
    write_text(path, text)
    return len(annotations)
