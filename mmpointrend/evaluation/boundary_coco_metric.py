"""Instance segmentation: COCO mask AP together with Boundary AP."""

from __future__ import annotations

import os.path as osp
import tempfile

import numpy as np
import torch
from mmdet.evaluation.metrics import CocoMetric
from mmengine.fileio import load
from mmengine.logging import print_log
from pycocotools import mask as mask_utils
from pycocotools.cocoeval import COCOeval

from mmpointrend.datasets.coco_checks import (
    check_coco_categories,
    repair_degenerate_polygons,
)
from mmpointrend.registry import METRICS

from .boundary import boundary_band, boundary_dilation


def rle_boundary(rle: dict, dilation_ratio: float) -> dict:
    """Boundary band of an RLE mask, as an RLE of the same image size.

    The band is computed inside the mask's bounding box grown by the band
    width (plus one pixel), so the cost follows the object's size; the
    image border still counts as background.

    Args:
        rle (dict): COCO RLE (``size``, ``counts``).
        dilation_ratio (float): Band width as a fraction of the diagonal.

    Returns:
        dict: RLE of the band.
    """
    height, width = rle['size']
    d = boundary_dilation(height, width, dilation_ratio)
    mask = mask_utils.decode(rle).astype(bool)
    band = np.zeros_like(mask)
    ys, xs = np.nonzero(mask)
    if ys.size:
        y0, y1 = max(ys.min() - d - 1, 0), min(ys.max() + d + 2, height)
        x0, x1 = max(xs.min() - d - 1, 0), min(xs.max() + d + 2, width)
        crop = torch.from_numpy(mask[y0:y1, x0:x1])[None]
        # The crop's own edges lie >= d + 1 pixels from the object unless
        # they are the image border, so padding them as background is exact.
        band[y0:y1, x0:x1] = boundary_band(crop, d)[0].numpy()
    return mask_utils.encode(np.asfortranarray(band.astype(np.uint8)))


class BoundaryCOCOeval(COCOeval):
    """COCOeval whose segm IoU is ``min(mask IoU, Boundary IoU)``.

    This is Boundary AP as defined by Cheng et al. (2021): for crowd ground
    truth the mask IoU is kept, as in their reference evaluation.

    Args:
        coco_gt: Ground-truth COCO api.
        coco_dt: Detections COCO api.
        dilation_ratio (float): Band width as a fraction of the diagonal.
            Defaults to 0.02.
    """

    def __init__(self, coco_gt, coco_dt, dilation_ratio: float = 0.02):
        super().__init__(coco_gt, coco_dt, 'segm')
        self.dilation_ratio = dilation_ratio

    def _prepare(self) -> None:
        super()._prepare()
        for anns in (*self._gts.values(), *self._dts.values()):
            for ann in anns:
                if 'boundary' not in ann:
                    ann['boundary'] = rle_boundary(
                        ann['segmentation'], self.dilation_ratio
                    )

    def computeIoU(self, imgId, catId):  # noqa: N802 (pycocotools API)
        """Boundary-aware IoU between detections and ground truth."""
        mask_ious = super().computeIoU(imgId, catId)
        if len(mask_ious) == 0:
            return mask_ious
        p = self.params
        if p.useCats:
            gt, dt = self._gts[imgId, catId], self._dts[imgId, catId]
        else:
            gt = [g for c in p.catIds for g in self._gts[imgId, c]]
            dt = [d for c in p.catIds for d in self._dts[imgId, c]]
        order = np.argsort([-d['score'] for d in dt], kind='mergesort')
        dt = [dt[i] for i in order][: p.maxDets[-1]]
        crowd = np.array([int(g['iscrowd']) for g in gt])
        boundary_ious = np.asarray(
            mask_utils.iou(
                [d['boundary'] for d in dt],
                [g['boundary'] for g in gt],
                crowd.tolist(),
            )
        )
        ious = np.array(mask_ious, dtype=np.float64)
        keep = crowd == 0
        ious[:, keep] = np.minimum(ious[:, keep], boundary_ious[:, keep])
        return ious


@METRICS.register_module()
class BoundaryCocoMetric(CocoMetric):
    """mmdet's :class:`CocoMetric` plus Boundary AP of the masks.

    Adds ``boundary_mAP``, ``boundary_mAP_50`` and ``boundary_mAP_75``
    (prefixed ``coco/`` like the other keys) computed with
    :class:`BoundaryCOCOeval` on the same detections.

    Args:
        dilation_ratio (float): Band width as a fraction of each image's
            diagonal. Defaults to 0.02.
        **kwargs: Passed to :class:`mmdet.evaluation.CocoMetric`; ``metric``
            must include ``'segm'``.
    """

    def __init__(self, dilation_ratio: float = 0.02, **kwargs) -> None:
        super().__init__(**kwargs)
        if 'segm' not in self.metrics:
            raise ValueError(
                "BoundaryCocoMetric scores masks: set metric=['segm'] "
                "(or ['bbox', 'segm'])"
            )
        self.dilation_ratio = dilation_ratio
        api = getattr(self, '_coco_api', None)
        if api is not None:
            source = str(kwargs.get('ann_file'))
            check_coco_categories(api.dataset, source)
            if repair_degenerate_polygons(api.dataset, source):
                api.createIndex()

    def compute_metrics(self, results: list) -> dict[str, float]:
        """COCO metrics plus Boundary AP.

        Args:
            results (list): ``(gt, prediction)`` pairs from ``process``.

        Returns:
            dict[str, float]: mmdet's metrics and the Boundary AP keys.
        """
        metrics = super().compute_metrics(results)
        if self.format_only:
            return metrics
        preds = [pred for _, pred in results]
        with tempfile.TemporaryDirectory() as tmp:
            files = self.results2json(preds, osp.join(tmp, 'results'))
            dets = load(files['segm'])
        if not dets:
            print_log('no detections: Boundary AP is 0', logger='current')
            metrics.update(
                boundary_mAP=0.0, boundary_mAP_50=0.0, boundary_mAP_75=0.0
            )
            return metrics
        evaluator = BoundaryCOCOeval(
            self._coco_api, self._coco_api.loadRes(dets), self.dilation_ratio
        )
        evaluator.params.catIds = self.cat_ids
        evaluator.params.imgIds = self.img_ids
        evaluator.params.maxDets = list(self.proposal_nums)
        evaluator.evaluate()
        evaluator.accumulate()
        print_log(
            'Boundary AP (IoU = min(mask IoU, boundary IoU)):', 'current'
        )
        evaluator.summarize()
        stats = evaluator.stats
        metrics.update(
            boundary_mAP=round(float(stats[0]), 3),
            boundary_mAP_50=round(float(stats[1]), 3),
            boundary_mAP_75=round(float(stats[2]), 3),
        )
        return metrics
