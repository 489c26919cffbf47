"""Semantic segmentation: mIoU together with mean Boundary IoU."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import cv2
import numpy as np
import torch
from mmengine.logging import print_log
from mmseg.evaluation.metrics import IoUMetric
from prettytable import PrettyTable
from torch import Tensor

from mmpointrend.registry import METRICS

from .boundary import boundary_dilation


def label_boundary(labels: np.ndarray, dilation: int) -> np.ndarray:
    """Pixels lying in the boundary band of their own label's mask.

    A pixel of label ``c`` is in the band of the mask ``labels == c`` iff
    its ``(2d+1)`` window holds another label or reaches outside the image
    (outside counts as background). One windowed min/max over the whole map
    gives the bands of all labels at once.

    Args:
        labels (np.ndarray): (H, W) integer label map.
        dilation (int): Band width ``d``.

    Returns:
        np.ndarray: (H, W) bool.
    """
    height, width = labels.shape
    lab = labels.astype(np.uint16)
    kernel = np.ones((2 * dilation + 1, 2 * dilation + 1), np.uint8)
    low = cv2.erode(lab, kernel, borderType=cv2.BORDER_REPLICATE)
    high = cv2.dilate(lab, kernel, borderType=cv2.BORDER_REPLICATE)
    boundary = (low != lab) | (high != lab)
    d = min(dilation, height, width)
    boundary[:d], boundary[height - d :] = True, True
    boundary[:, :d], boundary[:, width - d :] = True, True
    return boundary


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
        num_classes (int): ``K`` (< 65535).
        ignore_index (int): Label excluded from both maps.
        dilation_ratio (float): Band width as a fraction of the image
            diagonal. Defaults to 0.02.
        fscore (bool): Also count boundary precision/recall hits.
            Defaults to False.

    Returns:
        Tensor: (K, 2) band intersections and unions, or (K, 6) with
        ``fscore``, adding matched predicted contour pixels, predicted
        contour pixels, matched ground-truth contour pixels and ground-truth
        contour pixels (tolerance ``d``).
    """
    gt = label.cpu().numpy().astype(np.int64)
    pr = pred.cpu().numpy().astype(np.int64)
    valid = gt != ignore_index
    # Ignored pixels belong to no class of the prediction either.
    sentinel = 65535
    gt = np.where((gt >= 0) & (gt < num_classes), gt, sentinel)
    pr = np.where(valid & (pr >= 0) & (pr < num_classes), pr, sentinel)
    d = boundary_dilation(*gt.shape, dilation_ratio)
    gt_band = label_boundary(gt, d) & (gt != sentinel)
    pr_band = label_boundary(pr, d) & (pr != sentinel)

    def count(mask: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return np.bincount(labels[mask], minlength=num_classes)[:num_classes]

    inter = count(gt_band & pr_band & (gt == pr), gt)
    union = count(gt_band, gt) + count(pr_band, pr) - inter
    stats = [inter, union]
    if fscore:
        gt_edge = label_boundary(gt, 1) & (gt != sentinel)
        pr_edge = label_boundary(pr, 1) & (pr != sentinel)
        matched_pr = np.zeros(num_classes)
        matched_gt = np.zeros(num_classes)
        kernel = np.ones((2 * d + 1, 2 * d + 1), np.uint8)
        for c in np.unique(np.concatenate([gt[gt_edge], pr[pr_edge]])):
            gt_c = (gt_edge & (gt == c)).astype(np.uint8)
            pr_c = (pr_edge & (pr == c)).astype(np.uint8)
            matched_pr[c] = (pr_c & cv2.dilate(gt_c, kernel)).sum()
            matched_gt[c] = (gt_c & cv2.dilate(pr_c, kernel)).sum()
        stats += [
            matched_pr,
            count(pr_edge, pr),
            matched_gt,
            count(gt_edge, gt),
        ]
    return torch.from_numpy(np.stack(stats, 1).astype(np.float64))


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
