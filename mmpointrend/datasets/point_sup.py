"""Point annotations for PointSup training (boxes + labelled points).

The annotation file comes from ``tools/dataset_converters/coco_to_points.py``
(``point_coords`` integer pixels and ``point_labels`` 0/1 per object). The
dataset is mmdet's COCO dataset with the two fields carried into each
instance; :class:`LoadPointAnnotations` turns them into box-relative
coordinates (which resizing leaves unchanged) and optionally subsamples
them per iteration; :class:`PackPointSupInputs` mirrors them with the
image's flip and packs them, in image coordinates, as ``point_coords``
(n, P, 2) and ``point_labels`` (n, P) of ``gt_instances``.
"""

from __future__ import annotations

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.datasets import CocoDataset
from mmdet.datasets.transforms import PackDetInputs

from mmpointrend.registry import DATASETS, TRANSFORMS


@DATASETS.register_module()
class PointSupCocoDataset(CocoDataset):
    """mmdet's :class:`CocoDataset` keeping each object's point labels.

    mmdet parses the fields it knows; ``point_coords`` and ``point_labels``
    are attached to the instances it keeps, matched in file order by box
    and class (mmdet only drops annotations, never reorders them).

    Args:
        *args: Passed to :class:`mmdet.datasets.CocoDataset`.
        **kwargs: Passed to :class:`mmdet.datasets.CocoDataset`.
    """

    def parse_data_info(self, raw_data_info: dict) -> dict:
        """Parse as mmdet does, plus the point fields of every kept object.

        Args:
            raw_data_info (dict): ``raw_img_info`` and ``raw_ann_info``.

        Returns:
            dict: mmdet's data info; each instance also has
            ``point_coords`` (list of ``[x, y]``) and ``point_labels``.
        """
        info = super().parse_data_info(raw_data_info)
        anns = iter(raw_data_info['raw_ann_info'])
        for instance in info['instances']:
            for ann in anns:
                x, y, w, h = ann['bbox']
                if [x, y, x + w, y + h] == instance[
                    'bbox'
                ] and self.cat2label.get(ann['category_id']) == instance[
                    'bbox_label'
                ]:
                    break
            else:  # pragma: no cover - mmdet keeps a subsequence
                raise RuntimeError(
                    'could not match an instance to its annotation'
                )
            coords, labels = _checked_points(ann, self.ann_file)
            if coords is None and not instance['ignore_flag']:
                raise KeyError(
                    f'annotation {ann.get("id")} of {self.ann_file} has no '
                    'point_coords; make the file with tools/dataset_converters'
                    '/coco_to_points.py'
                )
            instance['point_coords'] = coords or []
            instance['point_labels'] = labels or []
        return info


#: Point labels: 1 inside the object, 0 outside. ``-1`` (ignored by the
#: loss) is also accepted, for points an annotator could not decide.
POINT_LABELS = (0, 1, -1)


def _checked_points(
    ann: dict, ann_file: str
) -> tuple[list | None, list | None]:
    """An annotation's points and labels, validated.

    Args:
        ann (dict): One COCO annotation.
        ann_file (str): Its file, for messages.

    Returns:
        tuple: ``point_coords`` (list of ``[x, y]``) and ``point_labels``
        (list of ints), or ``(None, None)`` when the object has no points.

    Raises:
        ValueError: Malformed points or labels; the message names the
            annotation, the file and the expected form.
    """
    where = f'annotation {ann.get("id")} of {ann_file}'
    has_coords, has_labels = 'point_coords' in ann, 'point_labels' in ann
    if not has_coords and not has_labels:
        return None, None
    if has_coords != has_labels:
        missing = 'point_labels' if has_coords else 'point_coords'
        raise ValueError(
            f'{where} has {"point_coords" if has_coords else "point_labels"}'
            f' but no {missing}; every annotated point needs both'
        )
    coords, labels = ann['point_coords'], ann['point_labels']
    if not isinstance(labels, list):
        raise ValueError(
            f'{where}: point_labels must be a list of 0/1 values, got '
            f'{type(labels).__name__} {labels!r}'
        )
    bad = [
        v
        for v in labels
        if isinstance(v, bool)
        or not isinstance(v, int)
        or v not in POINT_LABELS
    ]
    if bad:
        raise ValueError(
            f'{where}: point_labels must be 1 (inside), 0 (outside) or -1 '
            f'(ignored), got {bad[:5]!r}'
        )
    if not isinstance(coords, list) or not all(
        isinstance(c, list | tuple)
        and len(c) == 2
        and all(
            isinstance(v, int | float)
            and not isinstance(v, bool)
            and np.isfinite(v)
            for v in c
        )
        for c in coords
    ):
        raise ValueError(
            f'{where}: point_coords must be a list of [x, y] pixel '
            f'coordinates (finite numbers), got {str(coords)[:80]}'
        )
    if len(coords) != len(labels):
        raise ValueError(
            f'{where} has {len(coords)} point_coords but {len(labels)} '
            'point_labels; give one label per point'
        )
    return coords, labels


@TRANSFORMS.register_module()
class LoadPointAnnotations(BaseTransform):
    """Box-relative point annotations, optionally a random subset of them.

    Adds ``gt_point_coords`` (n, P, 2) float32: pixel centres ``x + 0.5``
    relative to each object's box (0 and 1 are its edges), and
    ``gt_point_labels`` (n, P) int64 (``-1`` for objects without points,
    e.g. crowd regions). Place it after ``LoadAnnotations`` and before
    resizing and flipping.

    Args:
        num_points (int, optional): Points kept per object and iteration,
            drawn without replacement (detectron2's ``SAMPLE_POINTS``;
            5 of 10 in its "point_aug" recipes). Defaults to all.
    """

    def __init__(self, num_points: int | None = None) -> None:
        if num_points is not None and (
            isinstance(num_points, bool) or not isinstance(num_points, int)
        ):
            raise TypeError(
                'LoadPointAnnotations: num_points must be a whole number of '
                f'points per object (or None for all), got {num_points!r}'
            )
        if num_points is not None and num_points < 1:
            raise ValueError(
                f'LoadPointAnnotations: num_points must be >= 1, got '
                f'{num_points}'
            )
        self.num_points = num_points

    def transform(self, results: dict) -> dict:
        """Add the point fields.

        Objects keep ``min(num_points, their count)`` points; objects with
        fewer are padded with ignored points (label ``-1``) so that the
        image's arrays are rectangular, and the RoI heads pad across images
        the same way.

        Args:
            results (dict): Pipeline results with ``instances``.

        Returns:
            dict: ``results`` with ``gt_point_coords`` and
            ``gt_point_labels``.
        """
        instances = results.get('instances', [])
        kept = []
        for inst in instances:
            total = len(inst.get('point_labels') or [])
            keep = (
                total
                if self.num_points is None
                else min(self.num_points, total)
            )
            kept.append(keep)
        width = max(kept, default=0)
        coords = np.zeros((len(instances), width, 2), np.float32)
        labels = np.full((len(instances), width), -1, np.int64)
        for i, (inst, keep) in enumerate(zip(instances, kept)):
            if not keep:
                continue
            pts = np.asarray(inst['point_coords'], np.float32) + 0.5
            lab = np.asarray(inst['point_labels'], np.int64)
            if keep < len(lab):
                pick = np.random.choice(len(lab), keep, replace=False)
                pts, lab = pts[pick], lab[pick]
            x1, y1, x2, y2 = inst['bbox']
            size = np.maximum([x2 - x1, y2 - y1], 1e-6).astype(np.float32)
            coords[i, :keep] = (pts - np.float32([x1, y1])) / size
            labels[i, :keep] = lab
        results['gt_point_coords'] = coords
        results['gt_point_labels'] = labels
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(num_points={self.num_points})'


@TRANSFORMS.register_module()
class PackPointSupInputs(PackDetInputs):
    """mmdet's :class:`PackDetInputs` that also packs the points.

    The box-relative points of :class:`LoadPointAnnotations` are mirrored
    with the image's flip and mapped through the final boxes to image
    coordinates, so they follow resizing and flipping as the boxes do
    (crops and other geometric transforms are not supported).
    """

    mapping_table = dict(
        PackDetInputs.mapping_table,
        gt_point_coords='point_coords',
        gt_point_labels='point_labels',
    )

    def transform(self, results: dict) -> dict:
        """Pack, with points in image coordinates.

        Args:
            results (dict): Pipeline results.

        Returns:
            dict: ``inputs`` and ``data_samples``.
        """
        if 'gt_point_coords' in results:
            rel = results['gt_point_coords'].copy()
            direction = results.get('flip_direction')
            if results.get('flip', False):
                if direction in ('horizontal', 'diagonal'):
                    rel[..., 0] = 1 - rel[..., 0]
                if direction in ('vertical', 'diagonal'):
                    rel[..., 1] = 1 - rel[..., 1]
            boxes = results['gt_bboxes']
            boxes = np.asarray(getattr(boxes, 'tensor', boxes), np.float32)
            origin = boxes[:, None, :2]
            size = boxes[:, None, 2:] - origin
            results['gt_point_coords'] = (origin + rel * size).astype(
                np.float32
            )
        return super().transform(results)
