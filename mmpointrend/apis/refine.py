"""Refine masks from any model with a :class:`PointRendRefiner`."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from mmengine.structures import InstanceData
from torch import nn


def _test_pipeline(cfg: Any) -> Any:
    """The config's test pipeline reading an array, without annotations."""
    from mmcv.transforms import Compose

    steps = copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
    kept = []
    for step in steps:
        kind = str(step['type'])
        if kind.endswith('LoadAnnotations'):
            continue
        if kind.endswith('LoadImageFromFile'):
            step = dict(type='mmdet.LoadImageFromNDArray')
        kept.append(step)
    from mmengine.registry import init_default_scope

    init_default_scope('mmdet')
    return Compose(kept)


def refine_masks(
    model: nn.Module,
    image: str | np.ndarray,
    masks: np.ndarray | torch.Tensor,
) -> np.ndarray:
    """Refine the masks of one image.

    Args:
        model (nn.Module): A refiner from :func:`init_model` (a
            ``mmpointrend.PointRendRefiner`` config and its weights).
        image (str | np.ndarray): Image path, or (H, W, 3) BGR uint8 array.
        masks (np.ndarray | Tensor): (N, H, W) masks of the image: bool or
            0/1, probabilities in ``[0, 1]``, or uint8 probabilities
            (0-255). Any resolution; they are resampled to the image.

    Returns:
        np.ndarray: (N, H, W) bool refined masks at the image's size.

    Raises:
        ValueError: ``masks`` is not (N, H, W), or the model is not a
            refiner.
    """
    import mmcv

    from mmpointrend.models.refiners import PointRendRefiner

    if not isinstance(model, PointRendRefiner):
        raise ValueError(
            f'refine_masks needs a PointRendRefiner, got '
            f'{type(model).__name__} (see configs/refiner/)'
        )
    array = mmcv.imread(image) if isinstance(image, str) else image
    if array is None or array.ndim != 3:
        raise ValueError(f'{image!r}: not a readable (H, W, 3) image')
    coarse = torch.as_tensor(np.asarray(masks))
    if coarse.dim() != 3:
        raise ValueError(
            f'masks must be (N, H, W), got shape {tuple(coarse.shape)}'
        )
    height, width = array.shape[:2]
    if coarse.shape[0] == 0:
        return np.zeros((0, height, width), bool)
    # the refiner reads uint8 maps as probabilities and resamples masks of
    # any resolution to its input itself
    data = _test_pipeline(model.cfg)(dict(img=array, img_id=0))
    sample = data['data_samples']
    sample.coarse_instances = InstanceData(masks=coarse)
    batch = dict(inputs=[data['inputs']], data_samples=[sample])
    with torch.no_grad():
        result = model.test_step(batch)[0]
    return result.pred_instances.masks.cpu().numpy().astype(bool)


def refine_label_map(
    model: nn.Module,
    image: str | np.ndarray,
    label_map: np.ndarray,
    ignore_index: int = 255,
    min_area: int = 16,
) -> np.ndarray:
    """Refine a semantic label map, each connected region as an object.

    Every connected region of every class (``min_area`` pixels or more) is
    refined as an object by :func:`refine_masks` (the refiner is trained on
    objects: a region's box and its context are what it knows); the refined
    regions are painted over the input labels from the largest to the
    smallest, so a small region inside a large one keeps its refined shape.
    Pixels no refined region claims keep their label; ``ignore_index``
    pixels stay unlabelled.

    Args:
        model (nn.Module): A refiner from :func:`init_model`.
        image (str | np.ndarray): Image path, or (H, W, 3) BGR uint8 array.
        label_map (np.ndarray): (H, W) integer labels of the image.
        ignore_index (int): Label of unlabelled pixels. Defaults to 255.
        min_area (int): Smaller regions are left as they are. Defaults to
            16.

    Returns:
        np.ndarray: (H, W) refined labels, the input's dtype.
    """
    import cv2
    import mmcv

    array = mmcv.imread(image) if isinstance(image, str) else image
    if array is None or array.ndim != 3:
        raise ValueError(f'{image!r}: not a readable (H, W, 3) image')
    labels = np.asarray(label_map)
    if labels.ndim != 2 or labels.shape != array.shape[:2]:
        raise ValueError(
            f'label_map must be (H, W) = {list(array.shape[:2])} like the '
            f'image, got shape {list(labels.shape)}'
        )
    regions, classes, areas = [], [], []
    for value in np.unique(labels):
        if int(value) == ignore_index:
            continue
        count, parts, stats, _ = cv2.connectedComponentsWithStats(
            (labels == value).astype(np.uint8), connectivity=8
        )
        for part in range(1, count):
            area = int(stats[part, cv2.CC_STAT_AREA])
            if area >= min_area:
                regions.append(parts == part)
                classes.append(value)
                areas.append(area)
    if not regions:
        return labels.copy()
    refined = refine_masks(model, array, np.stack(regions))
    out = labels.copy()
    order = np.argsort([-a for a in areas], kind='stable')
    for i in order:
        out[refined[i]] = classes[i]
    out[labels == ignore_index] = ignore_index
    return out


def find_masks(masks_dir: str, rel: str) -> str:
    """The mask file of image ``rel`` in ``masks_dir``.

    ``<rel>.json`` (``tools/infer.py``'s output), ``<rel>.png``, or the
    image's stem with ``.png`` (how SAM/YOLO exports name them).

    Raises:
        FileNotFoundError: None exists (the message lists where it looked).
    """
    import os.path as osp

    stem = osp.splitext(rel)[0]
    candidates = [rel + '.json', rel + '.png', stem + '.png']
    for name in candidates:
        path = osp.join(masks_dir, name)
        if osp.isfile(path):
            return path
    raise FileNotFoundError(
        f'no masks for {rel}: looked for '
        + ', '.join(osp.join(masks_dir, c) for c in candidates)
    )


def read_masks(path: str, image_shape: tuple[int, int]) -> tuple:
    """Masks of one image from a file users have.

    * ``.json``: ``tools/infer.py``'s instance file (``instances`` with COCO
      RLE ``segmentation``, ``bbox``, ``score``, ``label``);
    * ``.png``: an instance-id map (0 background, each other value one
      object, 8- or 16-bit).

    Args:
        path (str): The file.
        image_shape (tuple[int, int]): (H, W) of its image.

    Returns:
        tuple: (N, H, W) uint8 masks, and a dict with the file's format,
        the object ids / instance records to write back.

    Raises:
        ValueError: The file does not parse, or its size is not the
            image's (named with both sizes).
    """
    import json

    import cv2
    from pycocotools import mask as mask_utils

    height, width = image_shape
    if path.endswith('.json'):
        try:
            with open(path) as f:
                doc = json.load(f)
            records = doc['instances']
            rles = [dict(r['segmentation']) for r in records]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f'{path}: not an instance file of tools/infer.py '
                f'({type(exc).__name__}: {exc}); expected {{"instances": '
                '[{"segmentation": {"size": [H, W], "counts": ...}}, ...]}'
            ) from exc
        for rle in rles:
            if list(rle.get('size', [])) != [height, width]:
                raise ValueError(
                    f'{path}: a mask is {rle.get("size")} (H, W) but the '
                    f'image is {[height, width]}; masks must be of this image'
                )
            if isinstance(rle.get('counts'), str):
                rle['counts'] = rle['counts'].encode('ascii')
        masks = (
            mask_utils.decode(rles).transpose(2, 0, 1)
            if rles
            else np.zeros((0, height, width), np.uint8)
        )
        return masks, dict(format='json', doc=doc)
    ids = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if ids is None or ids.ndim != 2:
        raise ValueError(
            f'{path}: not a single-channel instance-id PNG (0 background, '
            'one value per object)'
        )
    if ids.shape != (height, width):
        raise ValueError(
            f'{path}: the id map is {list(ids.shape)} (H, W) but the image '
            f'is {[height, width]}; masks must be of this image'
        )
    values = [int(v) for v in np.unique(ids) if v != 0]
    masks = (
        np.stack([ids == v for v in values]).astype(np.uint8)
        if values
        else (np.zeros((0, height, width), np.uint8))
    )
    return masks, dict(format='png', ids=values, dtype=ids.dtype)


def encode_refined(refined: np.ndarray, source: dict) -> bytes:
    """The refined masks in the format they came in.

    Args:
        refined (np.ndarray): (N, H, W) bool masks, in the input's order.
        source (dict): The second value of :func:`read_masks`.

    Returns:
        bytes: The output file.
    """
    import json

    import cv2
    from pycocotools import mask as mask_utils

    if source['format'] == 'json':
        doc = copy.deepcopy(source['doc'])
        for record, mask in zip(doc['instances'], refined):
            rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
            record['segmentation'] = dict(
                size=[int(s) for s in rle['size']],
                counts=rle['counts'].decode('ascii'),
            )
            ys, xs = np.nonzero(mask)
            if len(ys):
                x1, y1 = float(xs.min()), float(ys.min())
                x2, y2 = float(xs.max() + 1), float(ys.max() + 1)
                # tools/infer.py writes corners, COCO results x, y, w, h
                record['bbox'] = (
                    [x1, y1, x2 - x1, y2 - y1]
                    if source.get('box') == 'xywh'
                    else [x1, y1, x2, y2]
                )
        doc['refined'] = True
        return json.dumps(doc).encode()
    height, width = refined.shape[1:] if refined.ndim == 3 else (0, 0)
    ids = np.zeros((height, width), source['dtype'])
    # later objects are drawn over earlier ones, as in the id map's order
    for value, mask in zip(source['ids'], refined):
        ids[mask] = value
    ok, png = cv2.imencode('.png', ids)
    if not ok:
        raise RuntimeError('OpenCV could not encode the id map as PNG')
    return png.tobytes()


def load_coco_results(results_file: str, ann_file: str) -> dict:
    """COCO results grouped by image file name, checked against the images.

    Args:
        results_file (str): A COCO results JSON list (``image_id``,
            ``category_id``, ``segmentation`` RLE, ``score``), as mmdet's
            ``CocoMetric(format_only=True)`` and most exporters write.
        ann_file (str): The COCO annotation file naming the images
            (``images``: ``id``, ``file_name``, ``height``, ``width``).

    Returns:
        dict: ``file_name -> (image record, [results])`` for every image of
        the annotation file.

    Raises:
        ValueError: A file does not parse, or results name image ids the
            annotation file does not have (listed).
    """
    import json

    try:
        with open(results_file) as f:
            results = json.load(f)
        with open(ann_file) as f:
            images = json.load(f)['images']
        by_id = {int(img['id']): img for img in images}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f'{results_file} / {ann_file}: not COCO results and a COCO '
            f'annotation file ({type(exc).__name__}: {exc})'
        ) from exc
    if not isinstance(results, list):
        raise ValueError(
            f'{results_file}: COCO results are a JSON list of detections, '
            f'got a {type(results).__name__}'
        )
    grouped: dict = {img['file_name']: (img, []) for img in images}
    unknown = sorted(
        {int(r.get('image_id', -1)) for r in results} - set(by_id)
    )
    if unknown:
        raise ValueError(
            f'{results_file}: image ids {unknown[:10]} are not in {ann_file}; '
            'give the annotation file the results were made for'
        )
    for record in results:
        if 'segmentation' not in record:
            raise ValueError(
                f'{results_file}: a result without "segmentation" (image '
                f'{record.get("image_id")}); refine needs mask results'
            )
        grouped[by_id[int(record['image_id'])]['file_name']][1].append(record)
    return grouped


def coco_results_masks(records: list, image_shape: tuple[int, int]) -> tuple:
    """:func:`read_masks` for one image's COCO results.

    Args:
        records (list): The image's result dicts.
        image_shape (tuple[int, int]): (H, W) of the image.

    Returns:
        tuple: (N, H, W) uint8 masks and the source for
        :func:`encode_refined`.
    """
    doc = dict(instances=[dict(r) for r in records])
    for record in doc['instances']:
        record.setdefault('segmentation', {})
    height, width = image_shape
    from pycocotools import mask as mask_utils

    rles = []
    for record in doc['instances']:
        rle = dict(record['segmentation'])
        if list(rle.get('size', [])) != [height, width]:
            raise ValueError(
                f'image {record.get("image_id")}: a result mask is '
                f'{rle.get("size")} (H, W) but the image is '
                f'{[height, width]}'
            )
        if isinstance(rle.get('counts'), str):
            rle['counts'] = rle['counts'].encode('ascii')
        rles.append(rle)
    masks = (
        mask_utils.decode(rles).transpose(2, 0, 1)
        if rles
        else np.zeros((0, height, width), np.uint8)
    )
    return masks, dict(format='json', doc=doc, box='xywh')
