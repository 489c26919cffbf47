"""Export path of Mask R-CNN + PointRend in standard ONNX operators.

Image -> boxes, scores, labels and per-detection mask probabilities.

mmdet's detection post-processing branches on data (empty results, the
number of valid boxes) and mmcv's NMS and RoIAlign have no ONNX
translation, so the two post-processing stages are written here again
with the same arithmetic as mmdet 3.3's ``RPNHead`` and ``BBoxHead``
(:meth:`_proposals`, :meth:`_detections`), over two custom ops whose eager
implementations are mmcv's kernels and whose ONNX translations are the
standard ``NonMaxSuppression`` and ``RoiAlign``. Everything else (backbone,
neck, heads, the PointRend mask branch and its subdivision renderer) is the
model's own code.
"""

from __future__ import annotations

import torch
from mmdet.structures.bbox import bbox2roi
from torch import Tensor, nn

_LIB = 'mmpointrend'


@torch.library.custom_op(f'{_LIB}::nms', mutates_args=())
def nms(
    boxes: Tensor, scores: Tensor, iou_threshold: float, max_output: int
) -> Tensor:
    """Indices of the boxes kept by NMS, highest score first.

    Args:
        boxes (Tensor): (N, 4) ``x1, y1, x2, y2``.
        scores (Tensor): (N,) scores.
        iou_threshold (float): Suppress boxes overlapping a kept one by more.
        max_output (int): Keep at most this many.

    Returns:
        Tensor: (M,) int64 indices, M <= ``max_output``.
    """
    from mmcv.ops import nms as mmcv_nms

    if boxes.shape[0] == 0:
        return boxes.new_zeros(0, dtype=torch.long)
    _, keep = mmcv_nms(boxes, scores, iou_threshold)
    return keep[:max_output].long()


@nms.register_fake
def _(boxes, scores, iou_threshold, max_output):
    size = torch.library.get_ctx().new_dynamic_size()
    return boxes.new_empty((size,), dtype=torch.long)


@torch.library.custom_op(f'{_LIB}::roi_align', mutates_args=())
def roi_align(
    features: Tensor,
    rois: Tensor,
    output_size: int,
    spatial_scale: float,
    sampling_ratio: int,
) -> Tensor:
    """Aligned average RoIAlign (mmcv's ``RoIAlign(aligned=True)``).

    Args:
        features (Tensor): (B, C, H, W) one feature level.
        rois (Tensor): (R, 5) ``batch index, x1, y1, x2, y2`` in image
            pixels.
        output_size (int): Output side.
        spatial_scale (float): ``1 / stride`` of the level.
        sampling_ratio (int): Samples per bin side (0: adaptive).

    Returns:
        Tensor: (R, C, output_size, output_size).
    """
    from mmcv.ops import roi_align as mmcv_roi_align

    return mmcv_roi_align(
        features,
        rois,
        (output_size, output_size),
        spatial_scale,
        sampling_ratio,
        'avg',
        True,
    )


@roi_align.register_fake
def _(features, rois, output_size, spatial_scale, sampling_ratio):
    return features.new_empty(
        (rois.shape[0], features.shape[1], output_size, output_size)
    )


def onnx_translations() -> dict:
    """ONNX translations of the custom ops, for ``torch.onnx.export``."""
    from onnxscript import FLOAT, INT64
    from onnxscript import opset18 as op

    def nms_onnx(
        boxes: FLOAT, scores: FLOAT, iou_threshold: float, max_output: int
    ) -> INT64:
        selected = op.NonMaxSuppression(
            op.Unsqueeze(boxes, [0]),
            op.Unsqueeze(scores, [0, 1]),
            op.Constant(value_ints=[max_output]),
            op.Constant(value_floats=[iou_threshold]),
        )
        return op.Reshape(op.Slice(selected, [2], [3], [1]), [-1])

    def roi_align_onnx(
        features: FLOAT,
        rois: FLOAT,
        output_size: int,
        spatial_scale: float,
        sampling_ratio: int,
    ) -> FLOAT:
        batch = op.Cast(op.Reshape(op.Slice(rois, [0], [1], [1]), [-1]), to=7)
        boxes = op.Slice(rois, [1], [5], [1])
        return op.RoiAlign(
            features,
            boxes,
            batch,
            mode='avg',
            output_height=output_size,
            output_width=output_size,
            sampling_ratio=sampling_ratio,
            spatial_scale=spatial_scale,
            coordinate_transformation_mode='half_pixel',
        )

    return {
        torch.ops.mmpointrend.nms.default: nms_onnx,
        torch.ops.mmpointrend.roi_align.default: roi_align_onnx,
    }


def _decode(coder, priors: Tensor, deltas: Tensor, max_shape) -> Tensor:
    """``DeltaXYWHBBoxCoder.decode`` (whose ONNX branch imports mmdet 2)."""
    from mmdet.models.task_modules.coders.delta_xywh_bbox_coder import (
        delta2bbox,
    )

    return delta2bbox(
        priors,
        deltas,
        coder.means,
        coder.stds,
        max_shape,
        16 / 1000,
        coder.clip_border,
        coder.add_ctr_clamp,
        coder.ctr_clamp,
    )


def _batched_nms(
    boxes: Tensor,
    scores: Tensor,
    groups: Tensor,
    iou_threshold: float,
    max_output: int,
) -> Tensor:
    """NMS within each group (mmcv's ``batched_nms`` offset trick)."""
    offsets = groups.to(boxes) * (boxes.max() + 1)
    return nms(boxes + offsets[:, None], scores, iou_threshold, max_output)


class DetectorExporter(nn.Module):
    """Mask R-CNN + PointRend as one traceable function of the image.

    Args:
        model (nn.Module): An mmdet two-stage detector whose RoI head is a
            :class:`~mmpointrend.models.PointRendMaskRoIHead`, in eval mode.
        image_shape (tuple[int, int]): Input ``(H, W)``.
    """

    def __init__(self, model: nn.Module, image_shape: tuple[int, int]):
        super().__init__()
        self.model = model
        self.image_shape = tuple(image_shape)

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Detections and their rendered masks for one image.

        Args:
            image (Tensor): (1, 3, H, W) normalised image.

        Returns:
            tuple[Tensor, Tensor, Tensor, Tensor]: (n, 4) boxes in input
            pixels, (n,) scores, (n,) int64 labels and (n, M, M) mask
            probabilities inside each box (M = 224 with the default
            rendering); n may be 0.
        """
        feats = self.model.extract_feat(image)
        proposals = self._proposals(feats)
        boxes, scores, labels = self._detections(feats, proposals)
        roi_head = self.model.roi_head
        rois = bbox2roi([boxes])
        _, refined = roi_head.refine_masks(feats, rois, labels)
        return boxes, scores, labels, refined[:, 0].sigmoid()

    def _proposals(self, feats: tuple[Tensor, ...]) -> Tensor:
        """Proposals of one image: ``RPNHead.predict`` as tensor ops."""
        head = self.model.rpn_head
        cfg = self.model.test_cfg.rpn
        cls_scores, bbox_preds = head(feats)
        priors = head.prior_generator.grid_priors(
            [c.shape[-2:] for c in cls_scores], device=feats[0].device
        )
        all_deltas, all_priors, all_scores, all_levels = [], [], [], []
        for level, (cls, deltas, anchors) in enumerate(
            zip(cls_scores, bbox_preds, priors)
        ):
            scores = cls[0].permute(1, 2, 0).reshape(-1).sigmoid()
            deltas = deltas[0].permute(1, 2, 0).reshape(-1, 4)
            nms_pre = cfg.get('nms_pre', -1)
            if 0 < nms_pre < scores.shape[0]:
                scores, inds = scores.topk(nms_pre)
                deltas, anchors = deltas[inds], anchors[inds]
            all_deltas.append(deltas)
            all_priors.append(anchors)
            all_scores.append(scores)
            all_levels.append(torch.full_like(scores, level))
        boxes = _decode(
            head.bbox_coder,
            torch.cat(all_priors),
            torch.cat(all_deltas),
            self.image_shape,
        )
        scores, levels = torch.cat(all_scores), torch.cat(all_levels)
        if cfg.get('min_bbox_size', -1) >= 0:
            wh = boxes[:, 2:] - boxes[:, :2]
            valid = (wh > cfg.min_bbox_size).all(dim=1)
            boxes, scores, levels = boxes[valid], scores[valid], levels[valid]
        keep = _batched_nms(
            boxes, scores, levels, cfg.nms.iou_threshold, cfg.max_per_img
        )
        return boxes[keep]

    def _box_features(self, feats, rois: Tensor) -> Tensor:
        """Box RoI features: ``SingleRoIExtractor`` without per-level indexing.

        Every RoI is pooled from every level and the level that mmdet's
        scale rule assigns is selected: more RoIAlign work, no
        data-dependent shapes.
        """
        extractor = self.model.roi_head.bbox_roi_extractor
        levels = extractor.map_roi_levels(rois, extractor.num_inputs)
        layer = extractor.roi_layers[0]
        pooled = torch.stack(
            [
                roi_align(
                    feats[i],
                    rois,
                    layer.output_size[0],
                    1.0 / extractor.featmap_strides[i],
                    layer.sampling_ratio,
                )
                for i in range(extractor.num_inputs)
            ]
        )
        rows = torch.arange(rois.shape[0], device=rois.device)
        return pooled[levels, rows]

    def _detections(self, feats, proposals: Tensor):
        """Detections: ``BBoxHead.predict_by_feat`` + ``multiclass_nms``."""
        roi_head = self.model.roi_head
        cfg = self.model.test_cfg.rcnn
        rois = bbox2roi([proposals])
        cls_score, bbox_pred = roi_head.bbox_head(
            self._box_features(feats, rois)
        )
        scores = cls_score.softmax(-1)[:, :-1]
        num_rois, num_classes = scores.shape
        # mmdet's decode returns early for zero boxes, a branch on the
        # (data-dependent) proposal count; one padding row makes the count
        # provably positive and is dropped again.
        boxes = _decode(
            roi_head.bbox_head.bbox_coder,
            torch.cat([proposals, proposals.new_zeros(1, 4)]),
            torch.cat([bbox_pred, bbox_pred.new_zeros(1, bbox_pred.shape[1])]),
            self.image_shape,
        )[:-1].reshape(num_rois, -1, 4)
        if boxes.shape[1] == 1:  # class-agnostic regression
            boxes = boxes.expand(num_rois, num_classes, 4)
        labels = torch.arange(num_classes, device=scores.device)
        labels = labels.expand(num_rois, num_classes).reshape(-1)
        boxes, scores = boxes.reshape(-1, 4), scores.reshape(-1)
        valid = scores > cfg.score_thr
        boxes, scores, labels = boxes[valid], scores[valid], labels[valid]
        keep = _batched_nms(
            boxes, scores, labels, cfg.nms.iou_threshold, cfg.max_per_img
        )
        return boxes[keep], scores[keep], labels[keep]
