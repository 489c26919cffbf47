"""PointRend as a refiner of masks that another model made."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmdet.models.detectors.base import BaseDetector
from mmdet.structures import DetDataSample, SampleList
from mmengine.structures import InstanceData
from torch import Tensor

from mmpointrend.registry import MODELS
from mmpointrend.utils.typing_utils import ConfigType, OptConfigType

from ..roi_heads.mask_heads.coarse_mask_head import paste_masks_into_image
from ..utils.point_features import (
    point_sample,
    regular_grid_points,
    roi_points_to_image,
    sample_masks_at_points,
    sample_roi_points,
)
from ..utils.subdivision import SubdivisionSettings, render
from .degrade import degrade_masks

#: Rendering defaults: 28x28 coarse logits in the box, 3 x2 steps to
#: 224x224 (Mask R-CNN's output and PointRend's, with room for 5 steps
#: from 7x7), 28x28 points per step.
REFINER_SUBDIVISION = SubdivisionSettings(
    steps=3, num_points=28 * 28, scale_factor=2
)
#: Probabilities are clamped to [EPS, 1 - EPS] before becoming logits, so a
#: hard 0/1 mask gives logits of about -/+4.6: confident, but not so
#: confident that the point head cannot overrule it.
EPS = 0.01


def masks_to_boxes(masks: Tensor, context: float) -> Tensor:
    """Boxes around soft masks, grown by ``context`` of their size.

    Args:
        masks (Tensor): (N, H, W) probabilities.
        context (float): Growth on each side as a fraction of the box's
            width/height (0.1: 10% more on every side).

    Returns:
        Tensor: (N, 4) ``(x1, y1, x2, y2)`` in pixels, inside the image; an
        empty mask gets the whole image.
    """
    num, height, width = masks.shape
    boxes = masks.new_zeros((num, 4))
    for i in range(num):
        ys, xs = torch.nonzero(masks[i] >= 0.5, as_tuple=True)
        if len(ys) == 0:
            ys, xs = torch.nonzero(masks[i] > 0, as_tuple=True)
        if len(ys) == 0:
            boxes[i] = masks.new_tensor((0, 0, width, height))
            continue
        x1, x2 = xs.min().float(), xs.max().float() + 1
        y1, y2 = ys.min().float(), ys.max().float() + 1
        dx, dy = (x2 - x1) * context, (y2 - y1) * context
        boxes[i] = torch.stack(
            (
                (x1 - dx).clamp(min=0),
                (y1 - dy).clamp(min=0),
                (x2 + dx).clamp(max=width),
                (y2 + dy).clamp(max=height),
            )
        )
    return boxes


def probs_to_logits(probs: Tensor) -> Tensor:
    """Logits of probabilities clamped to ``[EPS, 1 - EPS]``."""
    return torch.logit(probs.clamp(EPS, 1 - EPS))


@MODELS.register_module()
class PointRendRefiner(BaseDetector):
    """Refine masks from any source with PointRend's renderer.

    Class-agnostic: each object's given mask, read on a ``coarse_size``
    grid over its box (grown by ``context``), is the coarse prediction; a
    point head (:class:`PointRendMaskPointHead` with one output and one
    coarse channel) re-predicts the most uncertain cells on fine features
    of the image through ``steps`` x2 subdivision steps, and the result is
    pasted back at the image's resolution. Training degrades ground-truth
    masks (:func:`degrade_masks`) into the coarse inputs and supervises the
    point head on uncertainty-sampled points, as PointRend trains.

    Inputs at inference: ``data_sample.coarse_instances.masks`` ((N, H, W)
    probabilities or 0/1 masks at the image's original or network input
    size, with optional ``labels``/``scores``); without them the ground
    truth is degraded with ``test_cfg.seed`` (a fixed benchmark of coarse
    masks).

    Args:
        backbone (dict): mmdet backbone config.
        point_head (dict): Point head config (``class_agnostic=True``,
            ``coarse_channels=1``).
        neck (dict, optional): mmdet neck config.
        fine_feat_index (Sequence[int]): Levels the point head reads.
            Defaults to (0,).
        fine_feat_strides (Sequence[int]): Their strides. Defaults to (4,).
        coarse_size (int): Side of the coarse grid per object. Defaults to
            28.
        context (float): Box growth around each mask. Defaults to 0.1.
        train_cfg (dict, optional): ``degrade`` (kwargs of
            :func:`degrade_masks`), ``context_jitter`` (random extra
            context, default 0.1), ``max_objects`` (a random subset of at
            most this many objects per image is trained on, as Mask R-CNN
            samples its RoIs; None, the default: all).
        test_cfg (dict, optional): ``subdivision_steps``,
            ``subdivision_num_points``, ``mask_thr_binary`` (0.5), ``seed``
            (0) of the degraded ground truth used without given masks, and
            ``render`` (True; False returns the coarse masks unrefined, the
            "before" of a before/after evaluation).
        data_preprocessor (dict, optional): mmdet data preprocessor.
        init_cfg (dict, optional): Init config.
    """

    def __init__(
        self,
        backbone: ConfigType,
        point_head: ConfigType,
        neck: OptConfigType = None,
        fine_feat_index: Sequence[int] = (0,),
        fine_feat_strides: Sequence[int] = (4,),
        coarse_size: int = 28,
        context: float = 0.1,
        train_cfg: OptConfigType = None,
        test_cfg: OptConfigType = None,
        data_preprocessor: OptConfigType = None,
        init_cfg: OptConfigType = None,
    ) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg
        )
        from mmdet.registry import MODELS as MMDET_MODELS

        self.backbone = MMDET_MODELS.build(backbone)
        self.neck = MMDET_MODELS.build(neck) if neck is not None else None
        self.point_head = MODELS.build(point_head)
        if self.point_head.out_channels != 1 or (
            self.point_head.coarse_channels != 1
        ):
            raise ValueError(
                'the refiner is class-agnostic: set point_head.'
                'class_agnostic=True and point_head.coarse_channels=1 (got '
                f'{self.point_head.out_channels} outputs, '
                f'{self.point_head.coarse_channels} coarse channels)'
            )
        if len(fine_feat_index) != len(fine_feat_strides):
            raise ValueError(
                'give one stride per fine level: fine_feat_index='
                f'{list(fine_feat_index)}, fine_feat_strides='
                f'{list(fine_feat_strides)}'
            )
        if coarse_size < 2 or context < 0:
            raise ValueError(
                f'coarse_size must be >= 2 and context >= 0, got '
                f'{coarse_size} and {context}'
            )
        self.fine_feat_index = list(fine_feat_index)
        self.fine_feat_strides = list(fine_feat_strides)
        self.coarse_size = coarse_size
        self.context = context
        self.train_cfg = dict(train_cfg or {})
        self.test_cfg = dict(test_cfg or {})
        # validate the inference settings now
        self.subdivision_settings()

    def subdivision_settings(self) -> SubdivisionSettings:
        """The renderer's settings: ``test_cfg`` over the defaults."""
        return SubdivisionSettings.from_cfg(self.test_cfg, REFINER_SUBDIVISION)

    # -- features and coarse inputs --------------------------------------
    def extract_feat(self, batch_inputs: Tensor) -> tuple[Tensor, ...]:
        """Backbone (+ neck) features.

        Args:
            batch_inputs (Tensor): (B, 3, H, W) images.

        Returns:
            tuple[Tensor]: Feature levels.
        """
        x = self.backbone(batch_inputs)
        if self.neck is not None:
            x = self.neck(x)
        return tuple(x)

    def _fine(self, x: tuple[Tensor, ...]) -> list[Tensor]:
        return [x[i] for i in self.fine_feat_index]

    def coarse_logits(self, probs: Tensor, boxes: Tensor) -> Tensor:
        """Each mask read on a ``coarse_size`` grid over its box, as logits.

        Args:
            probs (Tensor): (N, H, W) probabilities of one image.
            boxes (Tensor): (N, 4) boxes in pixels.

        Returns:
            Tensor: (N, 1, S, S) logits.
        """
        num = probs.shape[0]
        height = width = self.coarse_size
        grid = regular_grid_points(num, height, width, probs.device)
        points = roi_points_to_image(boxes, grid)
        values = sample_masks_at_points(
            probs, torch.arange(num, device=probs.device), points
        )
        return probs_to_logits(values).view(num, 1, height, width)

    # -- training ----------------------------------------------------------
    def loss(
        self, batch_inputs: Tensor, batch_data_samples: SampleList
    ) -> dict:
        """Point loss on degraded ground truth.

        Args:
            batch_inputs (Tensor): (B, 3, H, W) images.
            batch_data_samples (list[DetDataSample]): With ``gt_instances``
                (``masks``).

        Returns:
            dict: ``loss_point``.
        """
        x = self.extract_feat(batch_inputs)
        fine = self._fine(x)
        degrade = self.train_cfg.get('degrade', {})
        jitter = self.train_cfg.get('context_jitter', 0.1)
        max_objects = self.train_cfg.get('max_objects')
        rois, coarse, targets = [], [], []
        for b, sample in enumerate(batch_data_samples):
            gt = _mask_tensor(sample.gt_instances, batch_inputs)
            if gt.shape[0] == 0:
                continue
            if max_objects is not None and len(gt) > max_objects:
                # crowded images (a hundred nuclei) would otherwise cost a
                # full-image degradation per object per step
                gt = gt[torch.randperm(len(gt))[:max_objects].to(gt.device)]
            probs = degrade_masks(gt, **degrade)
            context = self.context + torch.rand(()).item() * jitter
            boxes = masks_to_boxes(probs, context)
            logits = self.coarse_logits(probs, boxes)
            rois.append(
                torch.cat([boxes.new_full((len(boxes), 1), b), boxes], 1)
            )
            coarse.append(logits)
            targets.append(gt)
        if not rois:
            # no object in the batch: a zero loss that keeps every
            # parameter in the graph (DDP expects gradients for all)
            zero = sum(p.sum() for p in self.parameters()) * 0
            return dict(loss_point=zero)
        rois_t = torch.cat(rois)
        coarse_t = torch.cat(coarse)
        labels = rois_t.new_zeros(len(rois_t), dtype=torch.long)
        with torch.no_grad():
            points = self.point_head.sample_train_points(coarse_t, labels)
        fine_at = sample_roi_points(
            fine, self.fine_feat_strides, rois_t, points
        )
        coarse_at = point_sample(coarse_t, points)
        logits = self.point_head(fine_at, coarse_at)[:, 0]
        abs_points = roi_points_to_image(rois_t[:, 1:], points)
        truth = []
        start = 0
        for gt in targets:
            rows = slice(start, start + len(gt))
            truth.append(
                sample_masks_at_points(
                    gt,
                    torch.arange(len(gt), device=gt.device),
                    abs_points[rows],
                )
            )
            start += len(gt)
        truth_t = torch.cat(truth)
        loss = F.binary_cross_entropy_with_logits(logits, truth_t)
        return dict(loss_point=loss)

    # -- inference -----------------------------------------------------------
    def refine(
        self, x: tuple[Tensor, ...], probs: Tensor, batch_index: int = 0
    ) -> tuple[Tensor, Tensor]:
        """Render refined logits for the masks of one image.

        Args:
            x (tuple[Tensor]): Features of the batch.
            probs (Tensor): (N, H, W) coarse probabilities at the network
                input's scale.
            batch_index (int): The image's index in the batch.

        Returns:
            tuple[Tensor, Tensor]: (N, 4) boxes and (N, 1, M, M) refined
            logits over them.
        """
        boxes = masks_to_boxes(probs, self.context)
        coarse = self.coarse_logits(probs, boxes)
        rois = torch.cat(
            [boxes.new_full((len(boxes), 1), batch_index), boxes], 1
        )
        plan = self.subdivision_settings().plan((self.coarse_size,) * 2)
        labels = rois.new_zeros(len(rois), dtype=torch.long)
        predict = self.point_head.point_predictor(
            self._fine(x), self.fine_feat_strides, rois, coarse, labels, plan
        )
        return boxes, render(
            coarse, predict, self.point_head.uncertainty, plan
        )

    def predict(
        self,
        batch_inputs: Tensor,
        batch_data_samples: SampleList,
        rescale: bool = True,
    ) -> SampleList:
        """Refine the given (or degraded ground-truth) masks of each image.

        Args:
            batch_inputs (Tensor): (B, 3, H, W) images.
            batch_data_samples (list[DetDataSample]): With
                ``coarse_instances`` or ``gt_instances``.
            rescale (bool): Masks at the original image size. Defaults to
                True.

        Returns:
            list[DetDataSample]: ``pred_instances`` with ``bboxes``,
            ``labels``, ``scores`` and refined ``masks``.
        """
        x = self.extract_feat(batch_inputs)
        threshold = self.test_cfg.get('mask_thr_binary', 0.5)
        for b, sample in enumerate(batch_data_samples):
            probs, labels, scores = self._coarse_inputs(sample, batch_inputs)
            meta = sample.metainfo
            results = InstanceData()
            results.labels = labels
            results.scores = scores
            if len(probs) == 0:
                h, w = (
                    meta['ori_shape'][:2] if rescale else meta['img_shape'][:2]
                )
                results.bboxes = probs.new_zeros((0, 4))
                results.masks = torch.zeros(
                    (0, h, w), dtype=torch.bool, device=probs.device
                )
            elif not self.test_cfg.get('render', True):
                results.bboxes = masks_to_boxes(probs, 0.0)
                results.masks = _resize_masks(probs, meta, rescale, threshold)
                if rescale:
                    scale = results.bboxes.new_tensor(meta['scale_factor'])
                    results.bboxes = results.bboxes / scale.repeat(2)
            else:
                boxes, refined = self.refine(x, probs, b)
                results.bboxes = boxes
                paste_masks_into_image(
                    refined.sigmoid(), results, meta, threshold, rescale
                )
            sample.pred_instances = results
        return batch_data_samples

    def _coarse_inputs(
        self, sample: DetDataSample, batch_inputs: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Coarse probabilities at the input's scale, labels and scores."""
        given = sample.get('coarse_instances')
        img_h, img_w = sample.metainfo['img_shape'][:2]
        if given is not None:
            probs = torch.as_tensor(given.masks).to(batch_inputs.device)
            probs = probs.float()
            if probs.dim() != 3:
                raise ValueError(
                    f'coarse masks must be (N, H, W), got {tuple(probs.shape)}'
                )
            if probs.numel() and probs.max() > 1:
                probs = probs / 255.0  # 8-bit probability maps
            if tuple(probs.shape[-2:]) != (img_h, img_w) and len(probs):
                probs = F.interpolate(
                    probs[:, None],
                    size=(img_h, img_w),
                    mode='bilinear',
                    align_corners=False,
                )[:, 0]
            num = len(probs)
            labels = given.get('labels', None)
            scores = given.get('scores', None)
        else:
            gt = _mask_tensor(sample.gt_instances, batch_inputs)
            ori_shape = tuple(sample.metainfo['ori_shape'][:2])
            at_ori = tuple(gt.shape[-2:]) == ori_shape != (img_h, img_w)
            if len(gt) and at_ori:
                # mmdet's test pipelines load annotations after Resize: the
                # ground truth is at the original size, the image is not
                gt = (
                    F.interpolate(
                        gt[:, None],
                        size=(img_h, img_w),
                        mode='bilinear',
                        align_corners=False,
                    )[:, 0]
                    .ge(0.5)
                    .float()
                )
            gen = torch.Generator().manual_seed(self.test_cfg.get('seed', 0))
            degrade = self.train_cfg.get('degrade', {})
            probs = degrade_masks(gt, generator=gen, **degrade)
            probs = probs[:, :img_h, :img_w]
            num = len(probs)
            labels = sample.gt_instances.get('labels', None)
            scores = None
        device = batch_inputs.device
        labels = (
            torch.zeros(num, dtype=torch.long, device=device)
            if labels is None
            else torch.as_tensor(labels, device=device).long()
        )
        scores = (
            torch.ones(num, device=device)
            if scores is None
            else torch.as_tensor(scores, device=device).float()
        )
        return probs, labels, scores

    def _forward(self, batch_inputs: Tensor, batch_data_samples=None):
        """Tensor mode: the feature levels (what the renderer reads)."""
        return self.extract_feat(batch_inputs)


def _resize_masks(
    probs: Tensor, meta: dict, rescale: bool, threshold: float
) -> Tensor:
    """Coarse probabilities at the input scale as binary output masks."""
    if rescale:
        height, width = meta['ori_shape'][:2]
        probs = F.interpolate(
            probs[:, None],
            size=(height, width),
            mode='bilinear',
            align_corners=False,
        )[:, 0]
    return probs >= threshold


def _mask_tensor(gt: InstanceData, batch_inputs: Tensor) -> Tensor:
    """(N, H, W) float ground-truth masks on the inputs' device."""
    masks = gt.masks
    if hasattr(masks, 'to_tensor'):
        masks = masks.to_tensor(torch.float32, batch_inputs.device)
    masks = torch.as_tensor(masks, device=batch_inputs.device).float()
    if masks.dim() != 3:
        masks = masks.reshape(-1, *batch_inputs.shape[-2:])
    return masks
