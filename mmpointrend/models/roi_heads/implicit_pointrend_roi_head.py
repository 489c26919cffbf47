"""The RoI head of Implicit PointRend (detectron2's other PointRend model)."""

from __future__ import annotations

import torch
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.structures.bbox import bbox2roi
from mmdet.utils import InstanceList
from torch import Tensor, nn

from mmpointrend.registry import MODELS

from ..utils.point_features import sample_roi_points
from ..utils.point_selection import neg_abs_logit
from ..utils.subdivision import StepObserver, render_by_subdivision
from .point_supervision import annotated_points, point_bce
from .pointrend_roi_head import PointRendMaskRoIHead


@MODELS.register_module()
class ImplicitPointRendRoIHead(PointRendMaskRoIHead):
    """Mask R-CNN RoI head whose mask branch is Implicit PointRend.

    `Pointly-Supervised Instance Segmentation
    <https://arxiv.org/abs/2104.06404>`_, section 3. The mask head
    (:class:`ImplicitParamHead`) predicts the parameters of a point MLP per
    positive RoI; the point head (:class:`ImplicitPointHead`) evaluates it.
    Training uses a single point loss on uniformly sampled points (plus an
    L2 penalty on the parameters), no coarse mask loss; with
    ``point_supervision=True`` (PointSup) the points are the objects'
    annotated ones. Inference renders
    like PointRend: the 28x28 grid densely, then 3 steps of the 784 most
    uncertain points up to 224x224. The parameter head's output size is
    set from the point head; ``mask_head.num_params`` may be left out.

    Args:
        point_head (dict): :class:`ImplicitPointHead` config.
        *args: See :class:`PointRendMaskRoIHead`.
        **kwargs: See :class:`PointRendMaskRoIHead`.
    """

    @staticmethod
    def _complete_mask_head(point_head: nn.Module, kwargs: dict) -> dict:
        mask_head = dict(kwargs.get('mask_head') or {})
        given = mask_head.get('num_params')
        if given is not None and given != point_head.num_params:
            raise ValueError(
                f'mask_head.num_params={given} but the point head needs '
                f'{point_head.num_params} parameters per RoI; drop num_params '
                '(it is derived from the point head)'
            )
        mask_head['num_params'] = point_head.num_params
        return dict(kwargs, mask_head=mask_head)

    def _check_point_head(self) -> None:
        if getattr(self.mask_head, 'num_params', None) is None:
            raise ValueError(
                'ImplicitPointRendRoIHead needs mask_head='
                "dict(type='mmpointrend.ImplicitParamHead', ...), got "
                f'{type(self.mask_head).__name__}'
            )
        if not self.subdivision_settings().render_init_grid:
            raise ValueError(
                'Implicit PointRend has no coarse mask to start from; keep '
                'test_cfg.render_init_grid=True (the point head renders the '
                'first grid densely)'
            )

    def _implicit_logits(
        self,
        fine_feats: list[Tensor],
        rois: Tensor,
        params: Tensor,
        rel_points: Tensor,
        labels: Tensor | None,
    ) -> Tensor:
        """Logits of each RoI's MLP at its box-relative points."""
        fine = (
            sample_roi_points(
                fine_feats, self.fine_feat_strides, rois, rel_points
            )
            if self.point_head.image_features
            else None
        )
        return self.point_head(params, fine, rel_points, labels)

    def mask_loss(
        self,
        x: tuple[Tensor],
        sampling_results: list[SamplingResult],
        bbox_feats: Tensor,
        batch_gt_instances: InstanceList,
    ) -> dict:
        """Point loss on uniform points and the parameter penalty.

        Args:
            x (tuple[Tensor]): Multi-level features.
            sampling_results (list[SamplingResult]): Assigned proposals.
            bbox_feats (Tensor): Unused.
            batch_gt_instances (list[InstanceData]): Ground truth with
                ``masks``.

        Returns:
            dict: ``mask_preds`` (the parameters) and ``loss_mask`` =
            {``loss_point``, ``loss_params``}.
        """
        boxes = self.mask_train_boxes(x, sampling_results)
        rois = bbox2roi(boxes)
        labels = torch.cat([res.pos_gt_labels for res in sampling_results])
        params = self._mask_forward(x, rois)['mask_preds']
        if self.point_supervision and rois.shape[0] > 0:
            rel_points, point_labels = annotated_points(
                boxes, sampling_results, batch_gt_instances
            )
            logits = self._implicit_logits(
                self._fine_feats(x), rois, params, rel_points, labels
            )[:, 0]
            losses = dict(
                loss_point=point_bce(logits, point_labels),
                loss_params=self.point_head.params_penalty(params),
            )
            return dict(mask_preds=params, loss_mask=losses)
        rel_points = self.point_head.sample_train_points(rois.shape[0], params)
        logits = self._implicit_logits(
            self._fine_feats(x), rois, params, rel_points, None
        )
        if rois.shape[0] == 0:
            targets = logits.new_zeros((0, rel_points.shape[1]))
        else:
            targets = self._point_targets(
                boxes, rel_points, sampling_results, batch_gt_instances
            )
        losses = self.point_head.loss(logits, targets, labels, params)
        return dict(mask_preds=params, loss_mask=losses)

    def refine_masks(
        self,
        x: tuple[Tensor],
        rois: Tensor,
        labels: Tensor,
        on_step: StepObserver | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Parameters and the rendered logits of each detection's class.

        Args:
            x (tuple[Tensor]): Multi-level features.
            rois (Tensor): (R, 5) detections as RoIs.
            labels (Tensor): (R,) predicted classes.
            on_step (StepObserver, optional): Observer of every step.

        Returns:
            tuple[Tensor, Tensor]: (R, num_params) parameters and
            (R, 1, M, M) refined logits.
        """
        cfg = self.subdivision_settings()
        params = self._mask_forward(x, rois)['mask_preds']
        fine_feats = self._fine_feats(x)
        size = self.mask_head.output_size
        # The renderer plans from the S x S grid of the RoI; with
        # render_init_grid (validated at build) the point head renders the
        # first grid (28 x 28) densely, so these zeros never reach the
        # output.
        start = rois.new_zeros((rois.shape[0], 1, size, size))
        refined = render_by_subdivision(
            start,
            lambda pts: self._implicit_logits(
                fine_feats, rois, params, pts, labels
            ),
            neg_abs_logit,
            num_steps=cfg.steps,
            num_points=cfg.num_points,
            scale_factor=cfg.scale_factor,
            render_init_grid=True,
            on_step=on_step,
        )
        return params, refined
