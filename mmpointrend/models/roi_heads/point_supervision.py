"""PointSup losses: masks supervised by a few labelled points per object.

Shared by :class:`PointRendMaskRoIHead` and
:class:`ImplicitPointRendRoIHead` when ``point_supervision=True``: the
ground truth of each positive RoI is its object's annotated points
(``gt_instances.point_coords`` / ``point_labels`` from
:class:`mmpointrend.datasets.PackPointSupInputs`), expressed relative to the
RoI's box; points outside the box are ignored, as in detectron2's PointSup.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.utils import InstanceList
from torch import Tensor


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
                'point_supervision=True needs point annotations: use '
                "dataset type 'mmpointrend.PointSupCocoDataset' with "
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
