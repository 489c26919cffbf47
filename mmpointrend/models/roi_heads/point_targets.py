"""Where an instance point head's training points and targets come from.

A point head trains on points inside each positive RoI and the targets at
them; this module is the one place that knows where both come from. Two
sources, registered components of the point head (``point_targets=``):

* :class:`MaskPointTargets` (default): full masks. The point head's own
  sampler picks the points (PointRend: by uncertainty; Implicit PointRend:
  uniformly); targets are the ground-truth masks bilinearly read there,
  and the coarse head learns from mmdet's ``S x S`` mask targets.
* :class:`AnnotatedPointTargets`: PointSup (Cheng et al., CVPR 2022). The
  points are the objects' annotated ones (``gt_instances.point_coords`` /
  ``point_labels`` from :class:`mmpointrend.datasets.PackPointSupInputs`)
  relative to the RoI; points outside the RoI are ignored (label ``-1``),
  as in detectron2's PointSup; both the coarse logits and the point head
  are supervised there.

Shape shorthand: ``R`` positive RoIs, ``P`` points, ``K`` classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.structures.mask import mask_target
from mmdet.utils import InstanceList
from mmengine.config import ConfigDict
from torch import Tensor, nn

from mmpointrend.registry import TASK_UTILS

from ..utils.point_features import (
    class_channel,
    point_sample,
    roi_points_to_image,
    sample_masks_at_points,
)


@dataclass
class PointTrainBatch:
    """What a RoI head hands its point head for one training step.

    Args:
        boxes (list[Tensor]): Per image, (n_i, 4) boxes of the positives
            (the mask branch's training boxes).
        rois (Tensor): (R, 5) the same boxes as RoIs.
        labels (Tensor): (R,) their ground-truth classes.
        sampling_results (list[SamplingResult]): Assigned proposals.
        gt_instances (list[InstanceData]): Ground truth of each image.
        fine_feats (list[Tensor]): Fine-grained levels the point head reads.
        fine_strides (list[int]): Their strides.
    """

    boxes: list[Tensor]
    rois: Tensor
    labels: Tensor
    sampling_results: list[SamplingResult]
    gt_instances: InstanceList
    fine_feats: list[Tensor]
    fine_strides: list[int]

    @property
    def num_rois(self) -> int:
        """``R``."""
        return self.rois.shape[0]


@TASK_UTILS.register_module()
class MaskPointTargets:
    """Full masks: sampled points, soft mask values, ``S x S`` coarse targets.

    The default source of :class:`PointRendMaskPointHead` and
    :class:`ImplicitPointHead`.
    """

    #: The point loss reads every class's logits (mmdet's mask loss picks
    #: the ground-truth channel itself).
    label_channel_only = False

    def points_and_targets(
        self, head: nn.Module, coarse: Tensor, batch: PointTrainBatch
    ) -> tuple[Tensor, Tensor]:
        """The head's training points and the masks' values there.

        Args:
            head (nn.Module): The point head (its ``sample_train_points``
                chooses the points).
            coarse (Tensor): The mask head's output for the positives.
            batch (PointTrainBatch): The step's positives.

        Returns:
            tuple[Tensor, Tensor]: (R, P, 2) box-relative points and (R, P)
            targets in ``[0, 1]``.
        """
        rel_points = head.sample_train_points(coarse, batch.labels)
        return rel_points, soft_mask_targets(batch, rel_points)

    def coarse_loss(
        self,
        mask_head: nn.Module,
        coarse: Tensor,
        batch: PointTrainBatch,
        rel_points: Tensor,
        targets: Tensor,
    ) -> Tensor:
        """The coarse head's loss on mmdet's binarised ``S x S`` targets.

        Args:
            mask_head (nn.Module): Coarse head (its ``loss_mask``).
            coarse (Tensor): (R, K, S, S) coarse logits.
            batch (PointTrainBatch): The step's positives.
            rel_points (Tensor): Unused.
            targets (Tensor): Unused.

        Returns:
            Tensor: ``loss_mask``.
        """
        cfg = ConfigDict(mask_size=coarse.shape[-1])
        # mmdet's mask_target clips the boxes through .cpu().numpy(), which
        # on CPU is a view: without copies it would clip ``batch.boxes`` in
        # place, and the point targets would be read on other boxes than
        # the point features (on CPU only).
        mask_targets = mask_target(
            [b.clone() for b in batch.boxes],
            [res.pos_assigned_gt_inds for res in batch.sampling_results],
            [gt.masks for gt in batch.gt_instances],
            cfg,
        )
        return mask_head.loss_mask(
            coarse, mask_targets, class_channel(batch.labels, coarse.shape[1])
        )

    def point_loss(
        self, head: nn.Module, point_logits: Tensor, targets: Tensor, labels
    ) -> Tensor:
        """The head's ``loss_point`` on the ground-truth class's channel.

        Args:
            head (nn.Module): The point head (its ``loss_point`` module).
            point_logits (Tensor): (R, K or 1, P) logits.
            targets (Tensor): (R, P) soft targets.
            labels (Tensor): (R,) ground-truth classes.

        Returns:
            Tensor: ``loss_point``.
        """
        channel = class_channel(labels, point_logits.shape[1])
        return head.loss_point(point_logits, targets, channel)


@TASK_UTILS.register_module()
class AnnotatedPointTargets:
    """PointSup: annotated points and their 0/1 labels (``-1`` ignored)."""

    #: Only the ground-truth class's logits are needed: the head predicts
    #: that channel alone (K times less of its last layer).
    label_channel_only = True

    def points_and_targets(
        self, head: nn.Module, coarse: Tensor, batch: PointTrainBatch
    ) -> tuple[Tensor, Tensor]:
        """Each positive RoI's annotated points and labels.

        Args:
            head (nn.Module): Unused (the points are given).
            coarse (Tensor): Unused.
            batch (PointTrainBatch): The step's positives.

        Returns:
            tuple[Tensor, Tensor]: (R, P, 2) box-relative points and (R, P)
            labels in {0, 1, -1} as floats.
        """
        rel_points, labels = annotated_points(
            batch.boxes, batch.sampling_results, batch.gt_instances
        )
        return rel_points, labels.to(rel_points.dtype)

    def coarse_loss(
        self,
        mask_head: nn.Module,
        coarse: Tensor,
        batch: PointTrainBatch,
        rel_points: Tensor,
        targets: Tensor,
    ) -> Tensor:
        """BCE of the coarse logits, bilinearly read at the points.

        Args:
            mask_head (nn.Module): Unused.
            coarse (Tensor): (R, K, S, S) coarse logits.
            batch (PointTrainBatch): The step's positives.
            rel_points (Tensor): (R, P, 2) annotated points.
            targets (Tensor): (R, P) labels (``-1`` ignored).

        Returns:
            Tensor: ``loss_mask``.
        """
        rows = torch.arange(coarse.shape[0], device=coarse.device)
        channel = class_channel(batch.labels, coarse.shape[1])
        at_points = point_sample(coarse[rows, channel][:, None], rel_points)
        return point_bce(at_points[:, 0], targets)

    def point_loss(
        self, head: nn.Module, point_logits: Tensor, targets: Tensor, labels
    ) -> Tensor:
        """BCE of the ground-truth class's point logits, ignoring ``-1``.

        Args:
            head (nn.Module): Unused.
            point_logits (Tensor): (R, 1, P) logits of each RoI's class
                (``label_channel_only``).
            targets (Tensor): (R, P) labels (``-1`` ignored).
            labels (Tensor): Unused.

        Returns:
            Tensor: ``loss_point``.
        """
        return point_bce(point_logits[:, 0], targets)


def soft_mask_targets(batch: PointTrainBatch, rel_points: Tensor) -> Tensor:
    """Soft ground truth under each point (bilinear, full-image masks).

    Args:
        batch (PointTrainBatch): The step's positives.
        rel_points (Tensor): (R, P, 2) box-relative points.

    Returns:
        Tensor: (R, P) targets in ``[0, 1]``.
    """
    out = []
    start = 0
    for img_boxes, res, gt in zip(
        batch.boxes, batch.sampling_results, batch.gt_instances
    ):
        num = img_boxes.shape[0]
        pts = rel_points[start : start + num]
        start += num
        if num == 0:
            out.append(pts.new_zeros((0, pts.shape[1])))
            continue
        masks = gt.masks
        array = masks.masks if hasattr(masks, 'masks') else masks.to_ndarray()
        masks_t = torch.as_tensor(array, device=pts.device)
        abs_pts = roi_points_to_image(img_boxes.to(pts.dtype), pts)
        out.append(
            sample_masks_at_points(masks_t, res.pos_assigned_gt_inds, abs_pts)
        )
    return torch.cat(out)


def annotated_points(
    boxes: list[Tensor],
    sampling_results: list[SamplingResult],
    batch_gt_instances: InstanceList,
) -> tuple[Tensor, Tensor]:
    """Each positive RoI's annotated points, relative to the RoI's box.

    Args:
        boxes (list[Tensor]): Per image, (n_i, 4) boxes of the positives.
        sampling_results (list[SamplingResult]): Assigned proposals.
        batch_gt_instances (list[InstanceData]): Ground truth with
            ``point_coords`` (m, P, 2) image coordinates and ``point_labels``
            (m, P) in {0, 1, -1}.

    Returns:
        tuple[Tensor, Tensor]: (R, P, 2) box-relative points and (R, P)
        labels, ``-1`` (ignored) for points outside their RoI.
    """
    rels, labels = [], []
    for img_boxes, res, gt in zip(boxes, sampling_results, batch_gt_instances):
        if 'point_coords' not in gt or 'point_labels' not in gt:
            raise KeyError(
                'AnnotatedPointTargets (PointSup) needs point annotations: '
                "use dataset type 'mmpointrend.PointSupCocoDataset' with "
                'LoadPointAnnotations and PackPointSupInputs in the pipeline '
                '(configs/pointsup/)'
            )
        idx = res.pos_assigned_gt_inds
        pts = gt.point_coords[idx].to(img_boxes.dtype)
        lab = gt.point_labels[idx].long().clone()
        origin = img_boxes[:, None, :2]
        size = (img_boxes[:, 2:] - img_boxes[:, :2]).clamp(min=1e-6)[:, None]
        rel = (pts - origin) / size
        lab[((rel < 0) | (rel > 1)).any(-1)] = -1
        rels.append(rel)
        labels.append(lab)
    # Images may carry different numbers of points (LoadPointAnnotations
    # keeps min(num_points, annotated) per object): pad with ignored points.
    width = max(lab.shape[1] for lab in labels)
    rels = [F.pad(r, (0, 0, 0, width - r.shape[1]), value=0.5) for r in rels]
    labels = [F.pad(lb, (0, width - lb.shape[1]), value=-1) for lb in labels]
    return torch.cat(rels), torch.cat(labels)


def point_bce(logits: Tensor, labels: Tensor) -> Tensor:
    """Binary cross-entropy over the points whose label is not ``-1``.

    Args:
        logits (Tensor): (R, P) logits.
        labels (Tensor): (R, P) labels in {0, 1, -1}.

    Returns:
        Tensor: Mean over the valid points; 0 (in the graph) when none is.
    """
    valid = labels >= 0
    if not bool(valid.any()):
        return logits.sum() * 0
    return F.binary_cross_entropy_with_logits(
        logits[valid], labels[valid].to(logits.dtype)
    )
