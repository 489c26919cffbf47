"""The point head of instance PointRend, and the instance point-head contract.

What a RoI head asks of its point head (:class:`PointRendMaskRoIHead` and
:class:`ImplicitPointRendRoIHead` use nothing else):

* ``loss_and_target(coarse, batch, mask_head) -> dict``: training. The head
  picks its training points and targets through its ``point_targets``
  component (:mod:`..point_targets`: full masks or PointSup points) and
  returns its losses (and the coarse head's, where the source defines it);
* ``point_predictor(fine_feats, fine_strides, rois, coarse, labels, plan)
  -> PointPredictor``: inference. A function from (R, P, 2) box-relative
  points to (R, 1, P) logits of each RoI's class, for the renderer; how it
  gets there (a first layer applied to whole maps, chunks of RoIs) is the
  head's business;
* ``uncertainty``: the measure the renderer ranks cells by (a
  :class:`LogitUncertainty` by default).

The MLP itself is a component too (``mlp=dict(type=...)``): any module
built with ``fine_channels``, ``coarse_channels`` and ``out_channels`` whose
``forward(fine (R, C, P), coarse (R, K, P))`` returns (R, out_channels, P)
logits. :class:`PointMLP` (the default) adds two fast paths the head uses
when they are there.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from mmengine.model import BaseModule
from torch import Tensor

from mmpointrend.registry import MODELS, TASK_UTILS
from mmpointrend.utils.typing_utils import OptConfigType, OptMultiConfig

from ...utils.point_features import (
    class_channel,
    point_sample,
    sample_roi_points,
)
from ...utils.point_mlp import PointMLP, build_point_mlp
from ...utils.profiling import region
from ...utils.subdivision import PointPredictor, RenderPlan
from ..point_targets import PointTrainBatch

#: Points per chunk of the inference point MLP (8192 x 256 floats = 8 MiB).
POINTS_PER_CHUNK = 8192


@MODELS.register_module()
class PointRendMaskPointHead(BaseModule):
    """Per-point mask logits from fine features and coarse mask logits.

    The shared point MLP (:class:`PointMLP`): three 256-wide hidden layers,
    the coarse K-vector concatenated at the input and after every layer.

    Loss keys: ``loss_mask`` (the coarse head's, from the target source) and
    ``loss_point`` (BCE on bilinearly sampled, soft ground-truth mask
    values, averaged over RoIs and points).

    Args:
        num_classes (int): Number of classes ``K``.
        in_channels (int): Fine-grained channels (sum over the levels the
            RoI head reads). Defaults to 256.
        coarse_channels (int, optional): Channels of the coarse mask head's
            output (``K``, or 1 for a class-agnostic coarse head). Defaults
            to ``num_classes``.
        fc_channels (int): Hidden width of the default MLP. Defaults to 256.
        num_fcs (int): Hidden layers of the default MLP. Defaults to 3.
        coarse_pred_each_layer (bool): Defaults to True.
        class_agnostic (bool): One output mask for all classes. Defaults to
            False.
        mlp (dict, optional): The MLP component; defaults to
            :class:`PointMLP` with the four arguments above and below.
        point_sampler (dict, optional): Training sampler. Defaults to
            ``UncertaintyPointSampler(14 * 14, 3, 0.75)``.
        uncertainty (dict, optional): Uncertainty measure for sampling and
            rendering. Defaults to ``LogitUncertainty``.
        point_targets (dict, optional): Source of training points and
            targets. Defaults to ``MaskPointTargets`` (full masks);
            ``AnnotatedPointTargets`` trains on PointSup points.
        loss_point (dict, optional): Defaults to mmdet's
            ``CrossEntropyLoss(use_mask=True)``.
        predictor_std (float): Init std of the predictor. Defaults to 0.001.
        use_gemm (bool): See :class:`PointMLP`. Defaults to True.
        init_cfg (dict, optional): Init config.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 256,
        coarse_channels: int | None = None,
        fc_channels: int = 256,
        num_fcs: int = 3,
        coarse_pred_each_layer: bool = True,
        class_agnostic: bool = False,
        mlp: OptConfigType = None,
        point_sampler: OptConfigType = None,
        uncertainty: OptConfigType = None,
        point_targets: OptConfigType = None,
        loss_point: OptConfigType = None,
        predictor_std: float = 0.001,
        use_gemm: bool = True,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg)
        self.num_classes = num_classes
        self.class_agnostic = class_agnostic
        self.coarse_channels = (
            num_classes if coarse_channels is None else coarse_channels
        )
        if mlp is None:
            mlp = dict(
                type='mmpointrend.PointMLP',
                fc_channels=fc_channels,
                num_fcs=num_fcs,
                coarse_pred_each_layer=coarse_pred_each_layer,
                predictor_std=predictor_std,
                use_gemm=use_gemm,
            )
        self.mlp = build_point_mlp(
            mlp,
            fine_channels=in_channels,
            coarse_channels=self.coarse_channels,
            out_channels=1 if class_agnostic else num_classes,
        )
        if point_sampler is None:
            point_sampler = dict(
                type='mmpointrend.UncertaintyPointSampler',
                num_points=14 * 14,
                oversample_ratio=3,
                importance_sample_ratio=0.75,
            )
        self.point_sampler = TASK_UTILS.build(point_sampler)
        self.uncertainty = TASK_UTILS.build(
            uncertainty or dict(type='mmpointrend.LogitUncertainty')
        )
        self.point_targets = TASK_UTILS.build(
            point_targets or dict(type='mmpointrend.MaskPointTargets')
        )
        if loss_point is None:
            loss_point = dict(
                type='mmdet.CrossEntropyLoss', use_mask=True, loss_weight=1.0
            )
        from mmdet.registry import MODELS as MMDET_MODELS

        self.loss_point = MMDET_MODELS.build(loss_point)

    @property
    def out_channels(self) -> int:
        """Output channels of the MLP (``K``, or 1 class-agnostic)."""
        return self.mlp.out_channels

    # -- training ----------------------------------------------------------
    def sample_train_points(
        self, coarse_logits: Tensor, labels: Tensor
    ) -> Tensor:
        """Training points: uncertain ones of each RoI's ground-truth class.

        Args:
            coarse_logits (Tensor): (R, K_coarse, S, S) coarse mask logits.
            labels (Tensor): (R,) ground-truth classes.

        Returns:
            Tensor: (R, N, 2) box-relative points.
        """
        channel = class_channel(labels, self.coarse_channels)
        return self.point_sampler.sample(
            coarse_logits, lambda logits: self.uncertainty(logits, channel)
        )

    def loss_and_target(
        self, coarse: Tensor, batch: PointTrainBatch, mask_head: BaseModule
    ) -> dict[str, Tensor]:
        """Coarse and point losses of one training step.

        Args:
            coarse (Tensor): (R, K_coarse, S, S) coarse logits of the
                positives.
            batch (PointTrainBatch): The step's positives.
            mask_head (BaseModule): The coarse head (its ``loss_mask``).

        Returns:
            dict[str, Tensor]: ``loss_mask`` and ``loss_point`` (zeros still
            connected to the graph when there are no positives).
        """
        if batch.num_rois == 0:
            zero = coarse.sum() * 0
            return dict(loss_mask=zero, loss_point=zero)
        source = self.point_targets
        rel_points, targets = source.points_and_targets(self, coarse, batch)
        point_logits = self(
            sample_roi_points(
                batch.fine_feats, batch.fine_strides, batch.rois, rel_points
            ),
            point_sample(coarse, rel_points),
            batch.labels if source.label_channel_only else None,
        )
        return dict(
            loss_mask=source.coarse_loss(
                mask_head, coarse, batch, rel_points, targets
            ),
            loss_point=source.point_loss(
                self, point_logits, targets, batch.labels
            ),
        )

    # -- inference -----------------------------------------------------------
    def forward(
        self, fine: Tensor, coarse: Tensor, labels: Tensor | None = None
    ) -> Tensor:
        """Point logits.

        Args:
            fine (Tensor): (R, C_fine, P) fine-grained point features.
            coarse (Tensor): (R, K_coarse, P) coarse logits at the points.
            labels (Tensor, optional): (R,) classes; when given only the
                matching channel is predicted.

        Returns:
            Tensor: (R, K or 1, P) logits, (R, 1, P) with ``labels``.
        """
        return self._predict(fine, coarse, labels, projected=False)

    def _predict(
        self,
        fine: Tensor,
        coarse: Tensor,
        labels: Tensor | None,
        projected: bool,
    ) -> Tensor:
        if isinstance(self.mlp, PointMLP):  # its fast paths
            out_index = (
                None
                if labels is None
                else class_channel(labels, self.out_channels)
            )
            return self.mlp(
                fine, coarse, out_index=out_index, fine_projected=projected
            )
        out = self.mlp(fine, coarse)
        if labels is None:
            return out
        rows = torch.arange(out.shape[0], device=out.device)
        return out[rows, class_channel(labels, out.shape[1])][:, None]

    def point_predictor(
        self,
        fine_feats: Sequence[Tensor],
        fine_strides: Sequence[int],
        rois: Tensor,
        coarse: Tensor,
        labels: Tensor,
        plan: RenderPlan,
    ) -> PointPredictor:
        """The renderer's point predictor for these detections.

        Args:
            fine_feats (Sequence[Tensor]): Fine-grained levels.
            fine_strides (Sequence[int]): Their strides.
            rois (Tensor): (R, 5) detections.
            coarse (Tensor): (R, K_coarse, S, S) coarse logits.
            labels (Tensor): (R,) predicted classes (one channel each).
            plan (RenderPlan): The render these predictions serve.

        Returns:
            PointPredictor: (R, P, 2) box-relative points -> (R, 1, P)
            logits of each detection's class.
        """
        maps, projected = self._fine_maps(fine_feats, rois, plan)
        strides = list(fine_strides)

        def predict(chunk: slice, pts: Tensor) -> Tensor:
            with region('feature sampling'):
                fine = sample_roi_points(
                    maps,
                    strides,
                    rois[chunk],
                    pts,
                    reduce='sum' if projected else 'cat',
                )
                coarse_at = point_sample(coarse[chunk], pts)
            with region('point MLP'):
                return self._predict(fine, coarse_at, labels[chunk], projected)

        exporting = torch.compiler.is_exporting()

        def predict_points(pts: Tensor) -> Tensor:
            # In chunks of RoIs: every intermediate of the point MLP stays a
            # few MiB, so it is reused from the allocator's free lists and
            # the cache instead of being faulted in fresh per step. An
            # exported graph has a data-dependent number of detections, so
            # it keeps one static path.
            per_chunk = max(1, POINTS_PER_CHUNK // max(1, pts.shape[1]))
            if exporting or rois.shape[0] <= per_chunk:
                return predict(slice(None), pts)
            return torch.cat(
                [
                    predict(slice(i, i + per_chunk), pts[i : i + per_chunk])
                    for i in range(0, rois.shape[0], per_chunk)
                ]
            )

        return predict_points

    def _fine_maps(
        self, fine_feats: Sequence[Tensor], rois: Tensor, plan: RenderPlan
    ) -> tuple[list[Tensor], bool]:
        """The maps to sample: the levels, or their first-layer projection.

        Multiplying the maps by the first layer once beats multiplying every
        point when the render reads more points than the maps have pixels
        (100 detections read about 5x P2's pixels at 800x1216); see
        :meth:`PointMLP.project_fine`. Not in an exported graph, whose
        number of detections is not known when it is traced.
        """
        if torch.compiler.is_exporting() or not isinstance(self.mlp, PointMLP):
            return list(fine_feats), False
        predictions = rois.shape[0] * plan.predictions
        pixels = sum(f[0, 0].numel() * f.shape[0] for f in fine_feats)
        if predictions <= pixels:
            return list(fine_feats), False
        with region('point MLP'):
            projected = self.mlp.project_fine(fine_feats)
        if projected is None:
            return list(fine_feats), False
        return projected, True
