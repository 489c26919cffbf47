"""Semantic segmentation: mIoU together with mean Boundary IoU."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import torch
from mmengine.logging import print_log
from mmseg.evaluation.metrics import IoUMetric
from prettytable import PrettyTable
from torch import Tensor

from mmpointrend.registry import METRICS

from .boundary import boundary_band, boundary_dilation, dilate


def boundary_stats(
    pred: Tensor,
    label: Tensor,
    num_classes: int,
    ignore_index: int,
    dilation_ratio: float = 0.02,
    fscore: bool = False,
) -> Tensor:
    """Per-class boundary counts of one image.

    Args:
        pred (Tensor): (H, W) predicted labels.
        label (Tensor): (H, W) ground-truth labels.
        num_classes (int): ``K``.
        ignore_index (int): Label excluded from both maps.
        dilation_ratio (float): Band width as a fraction of the image
            diagonal. Defaults to 0.02.
        fscore (bool): Also count boundary precision/recall hits.
            Defaults to False.

    Returns:
        Tensor: (K, 2) band intersections and unions, or (K, 6) with
        ``fscore``: ... plus matched predicted contour pixels, predicted
        contour pixels, matched ground-truth contour pixels, ground-truth
        contour pixels (tolerance ``d``).
    """
    valid = label != ignore_index
    stats = torch.zeros(num_classes, 6 if fscore else 2, dtype=torch.float64)
    present = torch.unique(torch.cat([pred[valid], label[valid]]))
    present = present[(present >= 0) & (present < num_classes)]
    if present.numel() == 0:
        return stats
    classes = present.to(label.device)[:, None, None]
    gt = label[None] == classes  # (C, H, W), C = classes present
    pr = (pred[None] == classes) & valid[None]
    d = boundary_dilation(*label.shape, dilation_ratio)
    gt_band, pr_band = boundary_band(gt, d), boundary_band(pr, d) & valid
    rows = present.cpu()
    stats[rows, 0] = (gt_band & pr_band).flatten(1).sum(1).double().cpu()
    stats[rows, 1] = (gt_band | pr_band).flatten(1).sum(1).double().cpu()
    if fscore:
        gt_edge, pr_edge = boundary_band(gt, 1), boundary_band(pr, 1) & valid
        gt_near, pr_near = dilate(gt_edge, d), dilate(pr_edge, d)
        stats[rows, 2] = (pr_edge & gt_near).flatten(1).sum(1).double().cpu()
        stats[rows, 3] = pr_edge.flatten(1).sum(1).double().cpu()
        stats[rows, 4] = (gt_edge & pr_near).flatten(1).sum(1).double().cpu()
        stats[rows, 5] = gt_edge.flatten(1).sum(1).double().cpu()
    return stats


@METRICS.register_module()
class BoundaryIoUMetric(IoUMetric):
    """mmseg's :class:`IoUMetric` plus mean Boundary IoU (``mBIoU``).

    `Boundary IoU: Improving Object-Centric Image Segmentation Evaluation
    <https://arxiv.org/abs/2103.16562>`_. For every class, band
    intersections and unions are summed over the dataset (like mIoU sums
    areas), and ``BIoU = sum(inter) / sum(union)``; classes with an empty
    union in both maps are left out of the mean. Pixels with the ignore
    label count in neither map.

    Args:
        dilation_ratio (float): Band width as a fraction of each image's
            diagonal. Defaults to 0.02.
        boundary_fscore (bool): Also report the boundary F-score (``mBF``):
            contour precision/recall with a tolerance of the band width.
            Defaults to False.
        **kwargs: Passed to :class:`mmseg.evaluation.IoUMetric`
            (``iou_metrics``, ``nan_to_num``, ``prefix``, ...).
    """

    def __init__(
        self,
        dilation_ratio: float = 0.02,
        boundary_fscore: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if dilation_ratio <= 0:
            raise ValueError(
                f'dilation_ratio must be > 0, got {dilation_ratio}'
            )
        self.dilation_ratio = dilation_ratio
        self.boundary_fscore = boundary_fscore

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Collect area and boundary statistics of a batch.

        Args:
            data_batch (dict): Unused.
            data_samples (Sequence[dict]): Model outputs with
                ``pred_sem_seg`` and ``gt_sem_seg``.
        """
        num_classes = len(self.dataset_meta['classes'])
        start = len(self.results)
        super().process(data_batch, data_samples)
        if self.format_only:  # mmseg collects nothing to score then
            return
        for i, sample in enumerate(data_samples):
            if 'gt_sem_seg' not in sample:
                continue
            pred = sample['pred_sem_seg']['data'].squeeze()
            label = sample['gt_sem_seg']['data'].squeeze().to(pred)
            stats = boundary_stats(
                pred,
                label,
                num_classes,
                self.ignore_index,
                self.dilation_ratio,
                self.boundary_fscore,
            )
            self.results[start + i] = (*self.results[start + i], stats)

    def compute_metrics(self, results: list) -> dict[str, float]:
        """MIoU metrics of mmseg plus ``mBIoU`` (and ``mBF``).

        Args:
            results (list): Per-image tuples from :meth:`process`.

        Returns:
            dict[str, float]: Metrics in percent, like mmseg's.
        """
        metrics = super().compute_metrics([r[:4] for r in results])
        stats = torch.stack([r[4] for r in results]).sum(0).numpy()
        with np.errstate(divide='ignore', invalid='ignore'):
            biou = stats[:, 0] / stats[:, 1]
            extra = OrderedDict(BIoU=biou)
            if self.boundary_fscore:
                precision = stats[:, 2] / stats[:, 3]
                recall = stats[:, 4] / stats[:, 5]
                extra['BF'] = 2 * precision * recall / (precision + recall)
        table = PrettyTable()
        table.add_column('Class', list(self.dataset_meta['classes']))
        for key, values in extra.items():
            table.add_column(key, np.round(values * 100, 2))
            metrics[f'm{key}'] = float(np.round(np.nanmean(values) * 100, 2))
        print_log('boundary per class results:', logger='current')
        print_log('\n' + table.get_string(), logger='current')
        return metrics
