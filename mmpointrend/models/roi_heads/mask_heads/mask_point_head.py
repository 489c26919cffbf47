"""The point head of instance PointRend."""

from __future__ import annotations

from mmengine.model import BaseModule
from torch import Tensor

from mmpointrend.registry import MODELS, TASK_UTILS
from mmpointrend.utils.typing_utils import OptConfigType, OptMultiConfig

from ...utils.point_features import class_channel
from ...utils.point_mlp import PointMLP
from ...utils.point_selection import neg_abs_logit


@MODELS.register_module()
class PointRendMaskPointHead(BaseModule):
    """Per-point mask logits from fine features and coarse mask logits.

    The shared point MLP (:class:`PointMLP`): three 256-wide hidden layers,
    the coarse K-vector concatenated at the input and after every layer.

    Loss key: ``loss_point`` (BCE on bilinearly sampled, soft ground-truth
    mask values, averaged over RoIs and points).

    Args:
        num_classes (int): Number of classes ``K``.
        in_channels (int): Fine-grained channels (sum over the levels the
            RoI head reads). Defaults to 256.
        coarse_channels (int, optional): Channels of the coarse mask head's
            output (``K``, or 1 for a class-agnostic coarse head). Defaults
            to ``num_classes``.
        fc_channels (int): Hidden width. Defaults to 256.
        num_fcs (int): Hidden layers. Defaults to 3.
        coarse_pred_each_layer (bool): Defaults to True.
        class_agnostic (bool): One output mask for all classes. Defaults to
            False.
        point_sampler (dict, optional): Training sampler. Defaults to
            ``UncertaintyPointSampler(14 * 14, 3, 0.75)``.
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
        point_sampler: OptConfigType = None,
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
        self.mlp = PointMLP(
            fine_channels=in_channels,
            coarse_channels=self.coarse_channels,
            out_channels=1 if class_agnostic else num_classes,
            fc_channels=fc_channels,
            num_fcs=num_fcs,
            coarse_pred_each_layer=coarse_pred_each_layer,
            predictor_std=predictor_std,
            use_gemm=use_gemm,
        )
        if point_sampler is None:
            point_sampler = dict(
                type='mmpointrend.UncertaintyPointSampler',
                num_points=14 * 14,
                oversample_ratio=3,
                importance_sample_ratio=0.75,
            )
        self.point_sampler = TASK_UTILS.build(point_sampler)
        if loss_point is None:
            loss_point = dict(
                type='mmdet.CrossEntropyLoss', use_mask=True, loss_weight=1.0
            )
        from mmdet.registry import MODELS as MMDET_MODELS

        self.loss_point = MMDET_MODELS.build(loss_point)

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
            coarse_logits, lambda logits: neg_abs_logit(logits, channel)
        )

    def forward(
        self,
        fine: Tensor,
        coarse: Tensor,
        labels: Tensor | None = None,
        fine_projected: bool = False,
    ) -> Tensor:
        """Point logits.

        Args:
            fine (Tensor): (R, C_fine, P) fine-grained features (or samples
                of :meth:`PointMLP.project_fine` maps, ``fine_projected``).
            coarse (Tensor): (R, K_coarse, P) coarse logits at the points.
            labels (Tensor, optional): (R,) classes; when given only the
                matching channel is predicted.
            fine_projected (bool): Defaults to False.

        Returns:
            Tensor: (R, K or 1, P) logits, (R, 1, P) with ``labels``.
        """
        out_index = (
            None
            if labels is None
            else class_channel(labels, self.mlp.out_channels)
        )
        return self.mlp(
            fine, coarse, out_index=out_index, fine_projected=fine_projected
        )

    def loss(
        self, point_logits: Tensor, point_targets: Tensor, labels: Tensor
    ) -> dict[str, Tensor]:
        """BCE of point logits against soft targets.

        Args:
            point_logits (Tensor): (R, K or 1, P) logits.
            point_targets (Tensor): (R, P) targets in ``[0, 1]``.
            labels (Tensor): (R,) ground-truth classes.

        Returns:
            dict[str, Tensor]: ``loss_point`` (0, still connected to the
            graph, when there are no RoIs).
        """
        if point_logits.shape[0] == 0:
            return dict(loss_point=point_logits.sum() * 0)
        loss = self.loss_point(
            point_logits,
            point_targets,
            class_channel(labels, self.mlp.out_channels),
        )
        return dict(loss_point=loss)
