"""Cascade R-CNN whose masks are rendered by PointRend."""

from __future__ import annotations

from collections.abc import Sequence

from mmdet.models.roi_heads import CascadeRoIHead
from mmdet.utils import InstanceList
from torch import Tensor

from mmpointrend.registry import MODELS
from mmpointrend.utils.typing_utils import ConfigType

from .pointrend_roi_head import PointRendMaskRoIHead


@MODELS.register_module()
class PointRendCascadeRoIHead(CascadeRoIHead):
    """Cascade RoI head with one PointRend mask branch on the last stage.

    mmdet's Cascade Mask R-CNN trains a 28x28 mask head on every stage and
    averages the stages' masks at test time. PointRend renders one mask per
    detection from one coarse prediction, so the mask branch (coarse head +
    point head, :class:`PointRendMaskRoIHead`) sits on the **last** stage
    only: it trains on that stage's samples (the best-localised boxes of
    the cascade) and renders the final boxes. The earlier stages train
    their box heads only; their mask losses, an auxiliary signal in
    mmdet's recipe, are not used (averaging 7x7 coarse logits of several
    stages before one render would be the alternative).

    Args:
        point_head (dict): :class:`PointRendMaskPointHead` config.
        fine_feat_index (Sequence[int], optional): See
            :class:`PointRendMaskRoIHead`.
        fine_feat_strides (Sequence[int], optional): See
            :class:`PointRendMaskRoIHead`.
        *args: Passed to :class:`mmdet.models.roi_heads.CascadeRoIHead`.
        **kwargs: Passed to :class:`mmdet.models.roi_heads.CascadeRoIHead`;
            ``mask_head`` / ``mask_roi_extractor`` are one config (or a
            per-stage list, of which the last is used).
    """

    def __init__(
        self,
        *args,
        point_head: ConfigType,
        fine_feat_index: Sequence[int] | None = None,
        fine_feat_strides: Sequence[int] | None = None,
        **kwargs,
    ) -> None:
        # read by init_mask_head, which CascadeRoIHead.__init__ calls
        self._branch_cfg = dict(
            point_head=point_head,
            fine_feat_index=fine_feat_index,
            fine_feat_strides=fine_feat_strides,
        )
        super().__init__(*args, **kwargs)
        if not self.with_mask:
            raise ValueError(
                f'{type(self).__name__} needs mask_head and mask_roi_extractor'
            )
        last = self.bbox_head[-1].num_classes
        if self.mask_branch.point_head.num_classes != last:
            raise ValueError(
                f'point_head.num_classes='
                f'{self.mask_branch.point_head.num_classes} but the last '
                f'stage box head has num_classes={last}; set them alike'
            )

    @property
    def with_mask(self) -> bool:
        """Whether the PointRend mask branch exists."""
        return getattr(self, 'mask_branch', None) is not None

    def init_mask_head(
        self, mask_roi_extractor: ConfigType, mask_head: ConfigType
    ) -> None:
        """Build the PointRend mask branch of the last stage.

        Args:
            mask_roi_extractor (dict | list[dict]): Its RoI extractor (the
                last of a per-stage list); must not be None (the grid
                extractor of the fine level, not the box extractor).
            mask_head (dict | list[dict]): Its coarse mask head config.
        """
        if isinstance(mask_head, list):
            mask_head = mask_head[-1]
        if isinstance(mask_roi_extractor, list):
            mask_roi_extractor = mask_roi_extractor[-1]
        if mask_roi_extractor is None:
            raise ValueError(
                f'{type(self).__name__} needs its own mask_roi_extractor '
                "(e.g. dict(type='mmpointrend.GridRoIExtractor', ...)); the "
                'box extractor cannot be shared'
            )
        train_cfg = self.train_cfg[-1] if self.train_cfg else None
        self.mask_branch = PointRendMaskRoIHead(
            mask_roi_extractor=mask_roi_extractor,
            mask_head=mask_head,
            train_cfg=train_cfg,
            test_cfg=self.test_cfg,
            mask_only=True,
            **self._branch_cfg,
        )

    def _mask_forward(
        self, stage: int, x: tuple[Tensor], rois: Tensor
    ) -> dict:
        """The branch's coarse logits (every stage asks the same branch).

        Args:
            stage (int): Cascade stage (unused: one branch).
            x (tuple[Tensor]): Multi-level features.
            rois (Tensor): (R, 5) RoIs.

        Returns:
            dict: ``mask_preds``, (R, K, S, S) coarse logits.
        """
        return self.mask_branch._mask_forward(x, rois)

    def mask_loss(
        self,
        stage: int,
        x: tuple[Tensor],
        sampling_results: list,
        batch_gt_instances: InstanceList,
    ) -> dict:
        """PointRend's mask losses on the last stage, nothing before it.

        Args:
            stage (int): Cascade stage.
            x (tuple[Tensor]): Multi-level features.
            sampling_results (list[SamplingResult]): This stage's samples.
            batch_gt_instances (list[InstanceData]): Ground truth.

        Returns:
            dict: ``loss_mask``: a dict of losses (empty before the last
            stage).
        """
        if stage < self.num_stages - 1:
            return dict(loss_mask={})
        return self.mask_branch.mask_loss(
            x, sampling_results, None, batch_gt_instances
        )

    def predict_mask(
        self,
        x: tuple[Tensor],
        batch_img_metas: list[dict],
        results_list: InstanceList,
        rescale: bool = False,
    ) -> InstanceList:
        """Render the masks of the cascade's final detections.

        Args:
            x (tuple[Tensor]): Multi-level features.
            batch_img_metas (list[dict]): Image meta information.
            results_list (list[InstanceData]): Final detections per image.
            rescale (bool): Paste into the original image size.

        Returns:
            list[InstanceData]: Detections with ``masks``.
        """
        return self.mask_branch.predict_mask(
            x, batch_img_metas, results_list, rescale=rescale
        )
