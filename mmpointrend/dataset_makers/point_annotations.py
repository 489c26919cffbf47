"""COCO mask annotations to PointSup point annotations.

PointSup (Cheng, Parkhi, Kirillov, CVPR 2022) trains instance segmentation
from boxes plus a few labelled points per object. This module makes such
annotations from an existing COCO file, as detectron2's
``prepare_coco_point_annotations_without_masks.py`` does: every non-crowd
object gets ``point_coords``, ``num_points`` integer pixels ``[x, y]``
drawn uniformly inside its box (and the image), and ``point_labels``, 1
where the object's mask covers that pixel and 0 where it does not; its
``segmentation`` is dropped. A pixel ``[x, y]`` has its centre at
``(x + 0.5, y + 0.5)`` in continuous image coordinates.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np


def _decode(
    segmentation: Any, height: int, width: int, where: str
) -> np.ndarray:
    """(H, W) uint8 mask of a COCO polygon list or (compressed) RLE.

    Args:
        segmentation (Any): The annotation's ``segmentation``.
        height (int): Image height.
        width (int): Image width.
        where (str): ``annotation <id>``, for messages.

    Returns:
        np.ndarray: The mask.

    Raises:
        ValueError: Not a polygon list or an RLE of the image's size.
    """
    from pycocotools import mask as mask_utils

    if isinstance(segmentation, list):
        if not all(
            isinstance(poly, list)
            and len(poly) >= 6
            and len(poly) % 2 == 0
            and all(_finite(v) for v in poly)
            for poly in segmentation
        ):
            raise ValueError(
                f'{where}: a polygon must be a list of at least 3 (x, y) '
                'pairs, [x1, y1, x2, y2, x3, y3, ...]'
            )
        rle = mask_utils.merge(
            mask_utils.frPyObjects(segmentation, height, width)
        )
    elif isinstance(segmentation, dict) and 'counts' in segmentation:
        size = segmentation.get('size')
        if list(size or []) != [height, width]:
            raise ValueError(
                f'{where}: its RLE has size {size} but the image is '
                f'[{height}, {width}] (height, width)'
            )
        if isinstance(segmentation['counts'], list):
            rle = mask_utils.frPyObjects(segmentation, height, width)
        else:
            rle = segmentation
    else:
        raise ValueError(
            f'{where}: segmentation must be a list of polygons or an RLE '
            f'dict with counts and size, got {type(segmentation).__name__}'
        )
    mask = mask_utils.decode(rle)
    if mask.shape[:2] != (height, width):
        raise ValueError(
            f'{where}: its mask decodes to {mask.shape[:2]}, not the '
            f'image size ({height}, {width})'
        )
    return mask


def _finite(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _require(container: dict, key: str, where: str) -> Any:
    if not isinstance(container, dict) or key not in container:
        raise ValueError(
            f'{where} has no "{key}"; is it a COCO instances file?'
        )
    return container[key]


def _image_size(image: dict) -> tuple[int, int]:
    where = f'image {image.get("id") if isinstance(image, dict) else image}'
    height = _require(image, 'height', where)
    width = _require(image, 'width', where)
    if not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0
        for v in (height, width)
    ):
        raise ValueError(
            f'{where}: height and width must be positive integers, got '
            f'{height!r} x {width!r}'
        )
    return height, width


def sample_point_annotations(
    coco: dict, num_points: int = 10, seed: int = 12345
) -> dict:
    """Replace every object's mask by labelled points.

    Args:
        coco (dict): COCO instances (``images``, ``annotations`` with
            ``bbox`` and ``segmentation``).
        num_points (int): Points per object. Defaults to 10.
        seed (int): Seed of the draw; the same seed and file give the same
            points. Defaults to 12345 (detectron2's).

    Returns:
        dict: A copy with ``point_coords`` / ``point_labels`` on every
        non-crowd annotation and no ``segmentation`` anywhere (crowd
        regions keep their box and get no points).

    Raises:
        ValueError: ``num_points < 1``, an annotation of an unknown image,
            or a non-crowd object without a mask to read labels from.
    """
    if num_points < 1:
        raise ValueError(f'num_points must be >= 1, got {num_points}')
    rng = np.random.default_rng(seed)
    images = {
        _require(img, 'id', 'an entry of "images"'): img
        for img in _require(coco, 'images', 'the file')
    }
    out = {k: v for k, v in coco.items() if k != 'annotations'}
    out = copy.deepcopy(out)
    annotations = []
    for ann in _require(coco, 'annotations', 'the file'):
        new = {k: v for k, v in ann.items() if k != 'segmentation'}
        annotations.append(new)
        if ann.get('iscrowd', 0):
            continue
        where = f'annotation {ann.get("id")}'
        image = images.get(_require(ann, 'image_id', where))
        if image is None:
            raise ValueError(
                f'annotation {ann.get("id")} names image {ann["image_id"]}, '
                'which is not in "images"'
            )
        if not ann.get('segmentation'):
            raise ValueError(
                f'annotation {ann.get("id")} has no segmentation to read '
                'point labels from; point annotations are made from masks'
            )
        height, width = _image_size(image)
        mask = _decode(ann['segmentation'], height, width, where)
        bbox = _require(ann, 'bbox', where)
        if not (
            isinstance(bbox, list | tuple)
            and len(bbox) == 4
            and all(_finite(v) for v in bbox)
            and bbox[2] >= 0
            and bbox[3] >= 0
        ):
            raise ValueError(
                f'{where}: bbox must be [x, y, width, height] of finite '
                f'numbers with width, height >= 0, got {bbox!r}'
            )
        x0, y0, w, h = bbox
        # Integer pixels whose cells meet the box, clipped to the image.
        x_lo = max(0, math.floor(x0))
        y_lo = max(0, math.floor(y0))
        x_hi = min(width, max(x_lo + 1, math.ceil(x0 + w)))
        y_hi = min(height, max(y_lo + 1, math.ceil(y0 + h)))
        if x_lo >= x_hi or y_lo >= y_hi:
            raise ValueError(
                f'{where}: bbox {bbox} lies outside its {width}x{height} '
                'image; fix or drop the annotation'
            )
        xs = rng.integers(x_lo, x_hi, size=num_points)
        ys = rng.integers(y_lo, y_hi, size=num_points)
        new['point_coords'] = [[int(x), int(y)] for x, y in zip(xs, ys)]
        new['point_labels'] = [int(v) for v in mask[ys, xs]]
    out['annotations'] = annotations
    return out


def summarize_point_annotations(coco: dict) -> dict[str, float]:
    """How much of each object a point file shows.

    Uniform points in a box land on the object in proportion to how much of
    the box it fills, so thin objects (bars, rings, stars) get few positive
    labels and some get none: the supervision PointSup has to learn from.

    Args:
        coco (dict): COCO instances with ``point_labels`` (as
            :func:`sample_point_annotations` writes them).

    Returns:
        dict: ``objects`` (annotated, non-crowd), ``positive`` (fraction of
        the labelled points on their object), ``no_positive`` (fraction of
        objects with no point on them) and ``median_fill`` (median of mask
        area over box area, NaN when the file has no areas).
    """
    anns = [a for a in coco['annotations'] if 'point_labels' in a]
    if not anns:
        return dict(
            objects=0,
            positive=math.nan,
            no_positive=math.nan,
            median_fill=math.nan,
        )
    # -1 marks an unlabelled point: left out of both fractions
    labelled = [
        lab[lab >= 0] for lab in (np.asarray(a['point_labels']) for a in anns)
    ]
    points = np.concatenate(labelled)
    fills = [
        a['area'] / (a['bbox'][2] * a['bbox'][3])
        for a in anns
        if 'area' in a and a['bbox'][2] * a['bbox'][3] > 0
    ]
    return dict(
        objects=len(anns),
        positive=float(points.mean()) if points.size else math.nan,
        no_positive=float(np.mean([not (lab == 1).any() for lab in labelled])),
        median_fill=float(np.median(fills)) if fills else math.nan,
    )
