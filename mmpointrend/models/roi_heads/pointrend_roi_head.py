"""Instance PointRend: Mask R-CNN's mask branch rendered by subdivision."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.models.utils import empty_instances
from mmdet.structures.bbox import bbox2roi
from mmdet.utils import InstanceList
from torch import Tensor, nn

from mmpointrend.registry import MODELS
from mmpointrend.utils.typing_utils import ConfigType
from mmpointrend.utils.validation import check_cfg_keys

from ..utils.point_features import class_channel
from ..utils.profiling import region
from ..utils.subdivision import StepObserver, SubdivisionSettings, render
from .point_targets import PointTrainBatch

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
        mask_only (bool): Build the mask branch alone (no box head), for
            a head that owns the box stages itself
            (:class:`PointRendCascadeRoIHead`). Defaults to False.
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
        mask_only: bool = False,
        **kwargs,
    ) -> None:
        if kwargs.pop('point_supervision', False):
            raise ValueError(
                'point_supervision=True moved to the point head: set '
                "roi_head.point_head.point_targets=dict(type='mmpointrend."
                "AnnotatedPointTargets') (see configs/pointsup/)"
            )
        point = MODELS.build(point_head)
        kwargs = self._complete_mask_head(point, kwargs)
        super().__init__(*args, **kwargs)
        if not self.with_mask or not (mask_only or self.with_bbox):
            raise ValueError(
                f'{type(self).__name__} needs bbox_head, bbox_roi_extractor, '
                'mask_head and mask_roi_extractor'
            )
        if mask_only and train_on_pred_boxes:
            raise ValueError(
                'train_on_pred_boxes needs the box head; a mask-only branch '
                'trains on the boxes it is given'
            )
        self.point_head = point
        self._check_cfg_keys()
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
        self._check_point_head()
        if (
            self.with_bbox
            and self.point_head.num_classes != self.bbox_head.num_classes
        ):
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
        self.subdivision_settings()

    @staticmethod
    def _complete_mask_head(point_head: nn.Module, kwargs: dict) -> dict:
        """Hook: fill mask-head settings that follow from the point head.

        Args:
            point_head (nn.Module): The built point head.
            kwargs (dict): Keyword arguments of ``StandardRoIHead``.

        Returns:
            dict: ``kwargs`` (unchanged here).
        """
        return kwargs

    #: ``train_cfg.rcnn`` keys mmdet's RoI heads read.
    TRAIN_CFG_KEYS = (
        'assigner',
        'sampler',
        'mask_size',
        'pos_weight',
        'debug',
    )
    #: ``test_cfg.rcnn`` keys mmdet's heads read, then the renderer's.
    TEST_CFG_KEYS = (
        'score_thr',
        'nms',
        'max_per_img',
        'mask_thr_binary',
    ) + tuple(key for _, key in SubdivisionSettings.CFG_KEYS)

    def _check_cfg_keys(self) -> None:
        """Refuse misspelt ``train_cfg.rcnn`` / ``test_cfg.rcnn`` keys."""
        moved = {'num_points', 'oversample_ratio', 'importance_sample_ratio'}
        legacy = sorted(moved & set(self.train_cfg or {}))
        if legacy:
            raise ValueError(
                f'model.train_cfg.rcnn has mmdet-style keys {legacy}; in '
                'mmpointrend they belong to the point head: set '
                'roi_head.point_head.point_sampler=dict(type='
                "'mmpointrend.UncertaintyPointSampler', num_points=..., "
                'oversample_ratio=..., importance_sample_ratio=...) and '
                'remove them from train_cfg.rcnn'
            )
        check_cfg_keys(
            self.train_cfg, self.TRAIN_CFG_KEYS, 'model.train_cfg.rcnn'
        )
        check_cfg_keys(
            self.test_cfg, self.TEST_CFG_KEYS, 'model.test_cfg.rcnn'
        )

    def _check_point_head(self) -> None:
        """The coarse head's channels must be the point head's input."""
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

    def subdivision_settings(self) -> SubdivisionSettings:
        """The renderer's settings: ``test_cfg`` over the instance defaults.

        Returns:
            SubdivisionSettings: Validated settings.
        """
        return SubdivisionSettings.from_cfg(
            self.test_cfg, INSTANCE_SUBDIVISION
        )

    # -- shared pieces -----------------------------------------------------
    def _fine_feats(self, x: Sequence[Tensor]) -> list[Tensor]:
        if max(self.fine_feat_index) >= len(x):
            raise ValueError(
                f'fine_feat_index={self.fine_feat_index} but the neck gives '
                f'{len(x)} feature levels; use indices below {len(x)}'
            )
        return [x[i] for i in self.fine_feat_index]

    # -- training ----------------------------------------------------------
    @torch.no_grad()
    def mask_train_boxes(
        self, x: tuple[Tensor], sampling_results: list[SamplingResult]
    ) -> list[Tensor]:
        """The boxes the mask branch trains on, per image.

        The positive proposals, or with ``train_on_pred_boxes`` the box
        head's (detached) regression of them for their ground-truth class.
        The box head is evaluated again on the positives only: mmdet's
        ``loss`` does not hand the box predictions to ``mask_loss``, and
        the positives are at most a quarter of the sampled RoIs.

        Args:
            x (tuple[Tensor]): Multi-level features.
            sampling_results (list[SamplingResult]): Assigned proposals.

        Returns:
            list[Tensor]: (n_i, 4) boxes of each image's positives.
        """
        priors = [res.pos_priors for res in sampling_results]
        if not self.train_on_pred_boxes or sum(len(p) for p in priors) == 0:
            return priors
        deltas = self._bbox_forward(x, bbox2roi(priors))['bbox_pred']
        labels = torch.cat([res.pos_gt_labels for res in sampling_results])
        if not self.bbox_head.reg_class_agnostic:
            deltas = deltas.view(len(labels), -1, 4)
            deltas = deltas[torch.arange(len(labels)), labels]
        boxes = self.bbox_head.bbox_coder.decode(torch.cat(priors), deltas)
        return list(boxes.split([len(p) for p in priors]))

    def mask_loss(
        self,
        x: tuple[Tensor],
        sampling_results: list[SamplingResult],
        bbox_feats: Tensor,
        batch_gt_instances: InstanceList,
    ) -> dict:
        """The mask branch's losses: the point head's ``loss_and_target``.

        Args:
            x (tuple[Tensor]): Multi-level features.
            sampling_results (list[SamplingResult]): Assigned proposals.
            bbox_feats (Tensor): Unused (the mask branch has its own
                extractor).
            batch_gt_instances (list[InstanceData]): Ground truth (masks,
                or PointSup points).

        Returns:
            dict: ``mask_preds`` and ``loss_mask`` = the point head's
            losses (``loss_mask`` and ``loss_point`` for PointRend).
        """
        boxes = self.mask_train_boxes(x, sampling_results)
        rois = bbox2roi(boxes)
        mask_preds = self._mask_forward(x, rois)['mask_preds']
        batch = PointTrainBatch(
            boxes=boxes,
            rois=rois,
            labels=torch.cat([res.pos_gt_labels for res in sampling_results]),
            sampling_results=sampling_results,
            gt_instances=batch_gt_instances,
            fine_feats=self._fine_feats(x),
            fine_strides=self.fine_feat_strides,
        )
        losses = self.point_head.loss_and_target(
            mask_preds, batch, self.mask_head
        )
        return dict(mask_preds=mask_preds, loss_mask=losses)

    # -- inference ---------------------------------------------------------
    def render_start(self, coarse: Tensor, labels: Tensor) -> Tensor:
        """The map the renderer starts from: each detection's class channel.

        Refining only the predicted class's channel does K times less
        upsampling, ranking and scattering than refining all K.

        Args:
            coarse (Tensor): (R, K_coarse, S, S) coarse logits.
            labels (Tensor): (R,) predicted classes.

        Returns:
            Tensor: (R, 1, S, S) logits.
        """
        rows = torch.arange(coarse.shape[0], device=coarse.device)
        return coarse[rows, class_channel(labels, coarse.shape[1])][:, None]

    def refine_masks(
        self,
        x: tuple[Tensor],
        rois: Tensor,
        labels: Tensor,
        on_step: StepObserver | None = None,
    ) -> tuple[Tensor, Tensor]:
        """The mask head's output and the rendered logits of each class.

        Args:
            x (tuple[Tensor]): Multi-level features.
            rois (Tensor): (R, 5) detections as RoIs.
            labels (Tensor): (R,) predicted classes.
            on_step (StepObserver, optional): Observer of every rendering
                step (see :func:`render`).

        Returns:
            tuple[Tensor, Tensor]: The mask head's output ((R, K_coarse, S,
            S) coarse logits) and (R, 1, M, M) refined logits of the
            predicted class.
        """
        with region('coarse head'):
            coarse = self._mask_forward(x, rois)['mask_preds']
        start = self.render_start(coarse, labels)
        plan = self.subdivision_settings().plan(tuple(start.shape[-2:]))
        predict = self.point_head.point_predictor(
            self._fine_feats(x),
            self.fine_feat_strides,
            rois,
            coarse,
            labels,
            plan,
        )
        refined = render(
            start, predict, self.point_head.uncertainty, plan, on_step
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
        return self.mask_head.predict_by_feat(
            refined.split([len(r) for r in results_list]),
            results_list,
            batch_img_metas,
            self.test_cfg,
            rescale=rescale,
        )
