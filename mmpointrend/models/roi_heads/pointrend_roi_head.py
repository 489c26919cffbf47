"""Instance PointRend: Mask R-CNN's mask branch rendered by subdivision."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.models.roi_heads.mask_heads.fcn_mask_head import (
    BYTES_PER_FLOAT,
    GPU_MEM_LIMIT,
    _do_paste_mask,
)
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.models.utils import empty_instances
from mmdet.structures.bbox import bbox2roi
from mmdet.structures.mask import mask_target
from mmdet.utils import InstanceList
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor

from mmpointrend.registry import MODELS
from mmpointrend.utils.typing_utils import ConfigType

from ..utils.point_sample import (
    point_sample,
    roi_points_to_image,
    sample_masks_at_points,
    sample_roi_points,
)
from ..utils.point_selection import neg_abs_logit
from ..utils.subdivision import (
    StepObserver,
    SubdivisionSettings,
    render_by_subdivision,
)

#: Inference defaults (paper: 5 steps from 7x7 to 224x224, N = 28^2), with
#: detectron2's start: the point head renders the 28x28 grid densely.
INSTANCE_SUBDIVISION = SubdivisionSettings(
    steps=5, num_points=28 * 28, scale_factor=2, render_init_grid=True
)


@MODELS.register_module()
class PointRendMaskRoIHead(StandardRoIHead):
    """Mask R-CNN RoI head with a PointRend mask branch.

    `PointRend: Image Segmentation as Rendering
    <https://arxiv.org/abs/1912.08193>`_, section 4.

    Training: the coarse head predicts ``S x S`` logits per positive RoI
    (loss ``loss_mask`` on binarised ``S x S`` targets); the point head is
    trained on ``N`` uncertainty-sampled points per RoI (uncertainty of the
    ground-truth class) against bilinearly sampled full-image ground-truth
    masks (``loss_point``). Inference: adaptive subdivision of the
    *predicted class channel only*, then pasting into the image.

    Args:
        point_head (dict): :class:`PointRendMaskPointHead` config.
        fine_feat_index (Sequence[int], optional): Feature levels the point
            head reads. Defaults to the mask RoI extractor's levels.
        fine_feat_strides (Sequence[int], optional): Their strides. Defaults
            to the mask RoI extractor's strides.
        train_on_pred_boxes (bool): Train the mask branch on the box head's
            refined boxes of the positive proposals (detectron2's
            ``TRAIN_ON_PRED_BOXES``) instead of the proposals. Defaults to
            False (mmdet's behaviour).
        *args: Passed to :class:`mmdet.models.roi_heads.StandardRoIHead`.
        **kwargs: Passed to :class:`mmdet.models.roi_heads.StandardRoIHead`.
    """

    def __init__(
        self,
        point_head: ConfigType,
        *args,
        fine_feat_index: Sequence[int] | None = None,
        fine_feat_strides: Sequence[int] | None = None,
        train_on_pred_boxes: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        if not (self.with_bbox and self.with_mask):
            raise ValueError(
                'PointRendMaskRoIHead needs bbox_head, bbox_roi_extractor, '
                'mask_head and mask_roi_extractor'
            )
        self.point_head = MODELS.build(point_head)
        if fine_feat_index is None:
            fine_feat_index = range(self.mask_roi_extractor.num_inputs)
            fine_feat_strides = self.mask_roi_extractor.featmap_strides
        if fine_feat_strides is None or len(fine_feat_strides) != len(
            fine_feat_index
        ):
            raise ValueError(
                'give one stride per fine-grained level: fine_feat_index='
                f'{list(fine_feat_index)}, fine_feat_strides='
                f'{fine_feat_strides}'
            )
        if any(not isinstance(i, int) or i < 0 for i in fine_feat_index):
            raise ValueError(
                'fine_feat_index lists feature levels (ints >= 0), got '
                f'{list(fine_feat_index)}'
            )
        self.fine_feat_index = list(fine_feat_index)
        self.fine_feat_strides = list(fine_feat_strides)
        self.train_on_pred_boxes = train_on_pred_boxes
        coarse_out = getattr(self.mask_head, 'out_channels', None)
        if coarse_out is None:
            coarse_out = (
                1
                if self.mask_head.class_agnostic
                else self.mask_head.num_classes
            )
        if coarse_out != self.point_head.coarse_channels:
            raise ValueError(
                f'the coarse mask head predicts {coarse_out} channels but the '
                f'point head expects coarse_channels='
                f'{self.point_head.coarse_channels}; set point_head.'
                f'coarse_channels={coarse_out} (or align num_classes)'
            )
        if self.point_head.num_classes != self.bbox_head.num_classes:
            raise ValueError(
                f'point_head.num_classes={self.point_head.num_classes} but '
                f'bbox_head.num_classes={self.bbox_head.num_classes}; set '
                'num_classes on bbox_head, mask_head and point_head alike'
            )
        extractor_out = getattr(self.mask_roi_extractor, 'out_channels', None)
        mask_in = getattr(self.mask_head, 'in_channels', None)
        if None not in (extractor_out, mask_in) and extractor_out != mask_in:
            raise ValueError(
                f'mask_head.in_channels={mask_in} but the mask RoI extractor '
                f'gives {extractor_out} channels; set mask_head.in_channels='
                f'{extractor_out}'
            )
        # Validate the inference settings now, not at the first test batch.
        SubdivisionSettings.from_cfg(self.test_cfg, INSTANCE_SUBDIVISION)
        mask_size = (self.train_cfg or {}).get('mask_size')
        coarse_size = getattr(self.mask_head, 'output_size', None)
        if mask_size is not None and coarse_size not in (None, mask_size):
            raise ValueError(
                f'train_cfg.rcnn.mask_size={mask_size} but the coarse mask '
                f'head predicts {coarse_size}x{coarse_size}; remove mask_size '
                'or make them equal'
            )

    # -- shared pieces -----------------------------------------------------
    def _fine_feats(self, x: Sequence[Tensor]) -> list[Tensor]:
        if max(self.fine_feat_index) >= len(x):
            raise ValueError(
                f'fine_feat_index={self.fine_feat_index} but the neck gives '
                f'{len(x)} feature levels; use indices below {len(x)}'
            )
        return [x[i] for i in self.fine_feat_index]

    def _point_logits(
        self,
        fine_feats: list[Tensor],
        rois: Tensor,
        coarse_logits: Tensor,
        rel_points: Tensor,
        labels: Tensor | None,
    ) -> Tensor:
        """Point-head logits at RoI-relative points.

        Args:
            fine_feats (list[Tensor]): Fine-grained levels.
            rois (Tensor): (R, 5) RoIs.
            coarse_logits (Tensor): (R, K_coarse, S, S) coarse logits.
            rel_points (Tensor): (R, P, 2) box-relative points.
            labels (Tensor, optional): (R,) classes to predict (all when
                None).

        Returns:
            Tensor: (R, K or 1, P) logits.
        """
        fine = sample_roi_points(
            fine_feats, self.fine_feat_strides, rois, rel_points
        )
        coarse = point_sample(coarse_logits, rel_points)
        return self.point_head(fine, coarse, labels)

    def _coarse_channel(self, labels: Tensor) -> Tensor:
        if self.point_head.coarse_channels == 1:
            return labels.new_zeros(labels.shape)
        return labels

    # -- training ----------------------------------------------------------
    def bbox_loss(
        self, x: tuple[Tensor], sampling_results: list[SamplingResult]
    ) -> dict:
        """Box loss; also records the boxes the mask branch trains on.

        With ``train_on_pred_boxes`` the positive proposals are replaced by
        the box head's (detached) regression for their ground-truth class.

        Args:
            x (tuple[Tensor]): Multi-level features.
            sampling_results (list[SamplingResult]): Assigned proposals.

        Returns:
            dict: mmdet's box results.
        """
        bbox_results = super().bbox_loss(x, sampling_results)
        if self.train_on_pred_boxes:
            with torch.no_grad():
                start = 0
                deltas = bbox_results['bbox_pred']
                for res in sampling_results:
                    num_pos = res.pos_priors.shape[0]
                    d = deltas[start : start + num_pos]
                    start += res.priors.shape[0]
                    if not self.bbox_head.reg_class_agnostic:
                        d = d.view(num_pos, -1, 4)[
                            torch.arange(num_pos), res.pos_gt_labels
                        ]
                    res.pointrend_mask_boxes = (
                        self.bbox_head.bbox_coder.decode(res.pos_priors, d)
                        if num_pos
                        else res.pos_priors
                    )
        return bbox_results

    def mask_loss(
        self,
        x: tuple[Tensor],
        sampling_results: list[SamplingResult],
        bbox_feats: Tensor,
        batch_gt_instances: InstanceList,
    ) -> dict:
        """Coarse mask loss and point loss.

        Args:
            x (tuple[Tensor]): Multi-level features.
            sampling_results (list[SamplingResult]): Assigned proposals.
            bbox_feats (Tensor): Unused (the mask branch has its own
                extractor).
            batch_gt_instances (list[InstanceData]): Ground truth with
                ``masks``.

        Returns:
            dict: ``mask_preds`` and ``loss_mask`` = {``loss_mask``,
            ``loss_point``}.
        """
        boxes = [
            getattr(res, 'pointrend_mask_boxes', res.pos_priors)
            for res in sampling_results
        ]
        rois = bbox2roi(boxes)
        labels = torch.cat([res.pos_gt_labels for res in sampling_results])
        mask_preds = self._mask_forward(x, rois)['mask_preds']

        losses: dict[str, Tensor] = {}
        if rois.shape[0] == 0:
            zero = mask_preds.sum() * 0
            losses.update(loss_mask=zero, loss_point=zero)
            return dict(mask_preds=mask_preds, loss_mask=losses)

        cfg = ConfigDict(mask_size=mask_preds.shape[-1])
        targets = mask_target(
            boxes,
            [res.pos_assigned_gt_inds for res in sampling_results],
            [gt.masks for gt in batch_gt_instances],
            cfg,
        )
        mask_labels = (
            labels.new_zeros(labels.shape)
            if mask_preds.shape[1] == 1
            else labels
        )
        losses['loss_mask'] = self.mask_head.loss_mask(
            mask_preds, targets, mask_labels
        )

        coarse_channel = self._coarse_channel(labels)
        rel_points = self.point_head.point_sampler.sample(
            mask_preds, lambda logits: neg_abs_logit(logits, coarse_channel)
        )
        point_logits = self._point_logits(
            self._fine_feats(x), rois, mask_preds, rel_points, None
        )
        point_targets = self._point_targets(
            boxes, rel_points, sampling_results, batch_gt_instances
        )
        losses.update(
            self.point_head.loss(point_logits, point_targets, labels)
        )
        return dict(mask_preds=mask_preds, loss_mask=losses)

    @staticmethod
    def _point_targets(
        boxes: list[Tensor],
        rel_points: Tensor,
        sampling_results: list[SamplingResult],
        batch_gt_instances: InstanceList,
    ) -> Tensor:
        """Soft ground truth under each point (bilinear, full-image masks).

        Args:
            boxes (list[Tensor]): Per-image (n_i, 4) boxes of the positives.
            rel_points (Tensor): (R, P, 2) box-relative points.
            sampling_results (list[SamplingResult]): Assigned proposals.
            batch_gt_instances (list[InstanceData]): Ground truth.

        Returns:
            Tensor: (R, P) targets in ``[0, 1]``.
        """
        out = []
        start = 0
        for img_boxes, res, gt in zip(
            boxes, sampling_results, batch_gt_instances
        ):
            num = img_boxes.shape[0]
            pts = rel_points[start : start + num]
            start += num
            if num == 0:
                out.append(pts.new_zeros((0, pts.shape[1])))
                continue
            masks = gt.masks
            array = (
                masks.masks if hasattr(masks, 'masks') else masks.to_ndarray()
            )
            masks_t = torch.as_tensor(array, device=pts.device)
            abs_pts = roi_points_to_image(img_boxes.to(pts.dtype), pts)
            out.append(
                sample_masks_at_points(
                    masks_t, res.pos_assigned_gt_inds, abs_pts
                )
            )
        return torch.cat(out)

    # -- inference ---------------------------------------------------------
    def refine_masks(
        self,
        x: tuple[Tensor],
        rois: Tensor,
        labels: Tensor,
        on_step: StepObserver | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Coarse logits and the rendered logits of each detection's class.

        Args:
            x (tuple[Tensor]): Multi-level features.
            rois (Tensor): (R, 5) detections as RoIs.
            labels (Tensor): (R,) predicted classes.
            on_step (StepObserver, optional): Observer of every rendering
                step (see :func:`render_by_subdivision`).

        Returns:
            tuple[Tensor, Tensor]: (R, K_coarse, S, S) coarse logits and
            (R, 1, M, M) refined logits of the predicted class.
        """
        cfg = SubdivisionSettings.from_cfg(self.test_cfg, INSTANCE_SUBDIVISION)
        coarse = self._mask_forward(x, rois)['mask_preds']
        rows = torch.arange(rois.shape[0], device=rois.device)
        # Refine only the channel of the predicted class: K times less
        # upsampling, ranking and scattering than refining all K.
        selected = coarse[rows, self._coarse_channel(labels)][:, None]
        fine_feats = self._fine_feats(x)
        refined = render_by_subdivision(
            selected,
            lambda pts: self._point_logits(
                fine_feats, rois, coarse, pts, labels
            ),
            neg_abs_logit,
            num_steps=cfg.steps,
            num_points=cfg.num_points,
            scale_factor=cfg.scale_factor,
            render_init_grid=cfg.render_init_grid,
            on_step=on_step,
        )
        return coarse, refined

    def predict_mask(
        self,
        x: tuple[Tensor],
        batch_img_metas: list[dict],
        results_list: InstanceList,
        rescale: bool = False,
    ) -> InstanceList:
        """Masks for the detections of every image in the batch.

        Images without detections get empty masks; the others are refined
        together in one batched subdivision.

        Args:
            x (tuple[Tensor]): Multi-level features.
            batch_img_metas (list[dict]): Image meta information.
            results_list (list[InstanceData]): Detections per image.
            rescale (bool): Paste into the original image size and rescale
                the boxes. Defaults to False.

        Returns:
            list[InstanceData]: Detections with ``masks`` (n, H, W) bool.
        """
        rois = bbox2roi([res.bboxes for res in results_list])
        threshold = self.test_cfg.mask_thr_binary
        if rois.shape[0] == 0:
            return empty_instances(
                batch_img_metas,
                rois.device,
                task_type='mask',
                instance_results=results_list,
                mask_thr_binary=threshold,
            )
        labels = torch.cat([res.labels for res in results_list])
        _, refined = self.refine_masks(x, rois, labels)
        probs = refined.sigmoid().split([len(r) for r in results_list])
        for probs_i, results, meta in zip(
            probs, results_list, batch_img_metas
        ):
            paste_masks_into_image(probs_i, results, meta, threshold, rescale)
        return results_list


def paste_masks_into_image(
    probs: Tensor,
    results: InstanceData,
    img_meta: dict,
    threshold: float,
    rescale: bool,
) -> None:
    """Paste per-box mask probabilities into full-image binary masks.

    Follows mmdet's conventions: with ``rescale`` the boxes are divided by
    the image's ``scale_factor`` (in ``results`` too) and the masks have the
    original size, otherwise the network-input size.

    Args:
        probs (Tensor): (n, 1, M, M) probabilities of each detection's mask.
        results (InstanceData): Detections of one image; ``masks`` is set.
        img_meta (dict): Meta information with ``ori_shape`` and
            ``scale_factor``.
        threshold (float): Binarisation threshold (``mask_thr_binary``).
        rescale (bool): See above.
    """
    scale = results.bboxes.new_tensor(img_meta['scale_factor']).repeat(1, 2)
    img_h, img_w = img_meta['ori_shape'][:2]
    if rescale:
        results.bboxes = results.bboxes / scale
    else:
        img_h = int(round(img_h * scale[0, 1].item()))
        img_w = int(round(img_w * scale[0, 0].item()))
    boxes = results.bboxes.clone()
    # Zero-width/height boxes would divide by zero inside the paste.
    boxes[:, 2:] = torch.maximum(boxes[:, 2:], boxes[:, :2] + 1e-3)
    num = probs.shape[0]
    masks = probs.new_zeros((num, img_h, img_w), dtype=torch.bool)
    if num == 0:
        results.masks = masks
        return
    # A box with a NaN/inf coordinate or without any overlap with the image
    # has an empty mask (pasting it would index outside the image).
    inside = (
        torch.isfinite(boxes).all(dim=1)
        & (boxes[:, 2] > 0)
        & (boxes[:, 3] > 0)
        & (boxes[:, 0] < img_w)
        & (boxes[:, 1] < img_h)
    )
    keep = inside.nonzero()[:, 0]
    if probs.device.type == 'cpu':
        # One box at a time touches only its own window of the image.
        chunks = keep.split(1)
    else:
        per_chunk = max(
            1, int(GPU_MEM_LIMIT // (img_h * img_w * BYTES_PER_FLOAT))
        )
        chunks = keep.split(per_chunk)
    for inds in chunks:
        pasted, spatial = _do_paste_mask(
            probs[inds],
            boxes[inds],
            img_h,
            img_w,
            skip_empty=probs.device.type == 'cpu',
        )
        masks[(inds,) + spatial] = pasted >= threshold
    results.masks = masks
