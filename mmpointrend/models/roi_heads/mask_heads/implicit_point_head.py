"""Implicit PointRend: a point MLP whose weights are predicted per object.

`Pointly-Supervised Instance Segmentation <https://arxiv.org/abs/2104.06404>`_
(Cheng, Parkhi, Kirillov, CVPR 2022), section 3. A parameter head (the
PointRend coarse head with a parameter vector as output,
:class:`ImplicitParamHead`) predicts, per RoI, the weights and biases of a
small MLP; :class:`ImplicitPointHead` evaluates that MLP at points on the
fine features and a random-Fourier encoding of the box-relative position.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmpointrend.registry import MODELS, TASK_UTILS
from mmpointrend.utils.typing_utils import OptConfigType, OptMultiConfig
from mmpointrend.utils.validation import (
    check_counts,
    check_non_negative,
    check_positive_ints,
)

from ...utils.point_features import class_channel, sample_roi_points
from ...utils.subdivision import PointPredictor, RenderPlan
from ..point_targets import PointTrainBatch
from .coarse_mask_head import PointRendCoarseMaskHead


class FourierPointEncoding(nn.Module):
    """Random-Fourier features of box-relative points.

    ``(u, v)`` in ``[0, 1]`` is mapped to ``[-1, 1]``, multiplied by a fixed
    ``2 x C/2`` Gaussian matrix ``G`` and by ``2 pi``; the encoding is
    ``[sin(z), cos(z)]``. ``G`` is a buffer: it is saved with the weights,
    so a trained model keeps its encoding.

    Args:
        channels (int): Output channels ``C`` (even). Defaults to 256.
        scale (float): Std of ``G``. Defaults to 1.
    """

    def __init__(self, channels: int = 256, scale: float = 1.0) -> None:
        super().__init__()
        if channels <= 0 or channels % 2:
            raise ValueError(
                f'the positional encoding needs an even channel count > 0, '
                f'got {channels}'
            )
        self.channels = channels
        self.register_buffer('gaussian', scale * torch.randn(2, channels // 2))

    def forward(self, points: Tensor) -> Tensor:
        """Encode points.

        Args:
            points (Tensor): (R, P, 2) box-relative ``(u, v)``.

        Returns:
            Tensor: (R, C, P) encoding.
        """
        z = (2 * points - 1).to(self.gaussian.dtype) @ self.gaussian
        z = 2 * math.pi * z
        return torch.cat((z.sin(), z.cos()), dim=-1).transpose(1, 2)


@MODELS.register_module()
class ImplicitPointHead(BaseModule):
    """Evaluate each RoI's predicted MLP at its points.

    The MLP has ``num_fcs`` hidden layers of ``fc_channels`` with ReLU and
    a linear output (``K`` channels, or 1 when class agnostic); its input is
    the fine-grained features (``image_features``) and the positional
    encoding (``positional_encoding``) concatenated. The parameter vector of
    a RoI holds every layer's ``(out, in)`` weight matrix, then every
    layer's bias (detectron2's layout).

    Loss keys: ``loss_point`` (BCE on bilinearly sampled, soft ground truth,
    averaged over RoIs and points) and ``loss_params`` (L2 penalty on the
    predicted parameters, ``params_l2`` x their mean square).

    Args:
        num_classes (int): Number of classes ``K``.
        in_channels (int): Fine-grained feature channels. Defaults to 256.
        fc_channels (int): Hidden width. Defaults to 256.
        num_fcs (int): Hidden layers. Defaults to 3.
        class_agnostic (bool): One output for all classes. Defaults to
            False.
        image_features (bool): Read fine-grained features. Defaults to True.
        positional_encoding (bool): Read the Fourier encoding. Defaults to
            True.
        encoding_channels (int): Channels of the encoding. Defaults to 256.
        num_train_points (int): Uniform training points per RoI. Defaults to
            196 (14 x 14).
        params_l2 (float): Weight of the parameter penalty. Defaults to
            1e-5.
        loss_point (dict, optional): Defaults to mmdet's
            ``CrossEntropyLoss(use_mask=True)``.
        uncertainty (dict, optional): Uncertainty measure of the render.
            Defaults to ``LogitUncertainty``.
        point_targets (dict, optional): Source of training points and
            targets: ``MaskPointTargets`` (default: uniform points, soft
            masks) or ``AnnotatedPointTargets`` (PointSup).
        init_cfg (dict, optional): Init config.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 256,
        fc_channels: int = 256,
        num_fcs: int = 3,
        class_agnostic: bool = False,
        image_features: bool = True,
        positional_encoding: bool = True,
        encoding_channels: int = 256,
        num_train_points: int = 14 * 14,
        params_l2: float = 1e-5,
        loss_point: OptConfigType = None,
        uncertainty: OptConfigType = None,
        point_targets: OptConfigType = None,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        check_positive_ints(
            'ImplicitPointHead',
            num_classes=num_classes,
            fc_channels=fc_channels,
            num_train_points=num_train_points,
        )
        check_counts('ImplicitPointHead', num_fcs=num_fcs)
        check_non_negative('ImplicitPointHead', params_l2=params_l2)
        if image_features:
            check_positive_ints('ImplicitPointHead', in_channels=in_channels)
        if not (image_features or positional_encoding):
            raise ValueError(
                'ImplicitPointHead needs image_features or '
                'positional_encoding (or both) as input'
            )
        super().__init__(init_cfg)
        self.num_classes = num_classes
        self.class_agnostic = class_agnostic
        self.image_features = image_features
        self.in_channels = in_channels if image_features else 0
        self.num_train_points = num_train_points
        self.params_l2 = params_l2
        self.encoding = (
            FourierPointEncoding(encoding_channels)
            if positional_encoding
            else None
        )
        width = self.in_channels + (encoding_channels * positional_encoding)
        self.out_channels = 1 if class_agnostic else num_classes
        #: (in, out) of every layer of the predicted MLP.
        self.layer_shapes: list[tuple[int, int]] = []
        for _ in range(num_fcs):
            self.layer_shapes.append((width, fc_channels))
            width = fc_channels
        self.layer_shapes.append((width, self.out_channels))
        if loss_point is None:
            loss_point = dict(
                type='mmdet.CrossEntropyLoss', use_mask=True, loss_weight=1.0
            )
        from mmdet.registry import MODELS as MMDET_MODELS

        self.loss_point = MMDET_MODELS.build(loss_point)
        self.uncertainty = TASK_UTILS.build(
            uncertainty or dict(type='mmpointrend.LogitUncertainty')
        )
        self.point_targets = TASK_UTILS.build(
            point_targets or dict(type='mmpointrend.MaskPointTargets')
        )

    @property
    def num_params(self) -> int:
        """Length of the parameter vector a RoI needs."""
        return sum(i * o + o for i, o in self.layer_shapes)

    def split_params(
        self, params: Tensor
    ) -> tuple[list[Tensor], list[Tensor]]:
        """Weights (R, out, in) and biases (R, out) of every layer.

        Args:
            params (Tensor): (R, num_params) predicted parameters.

        Returns:
            tuple[list[Tensor], list[Tensor]]: Per layer.
        """
        if params.shape[-1] != self.num_params:
            raise ValueError(
                f'the parameter head predicts {params.shape[-1]} values per '
                f'RoI but the point head needs {self.num_params}; build both '
                'through ImplicitPointRendRoIHead, which sizes the parameter '
                'head from the point head'
            )
        sizes = [i * o for i, o in self.layer_shapes]
        sizes += [o for _, o in self.layer_shapes]
        parts = params.split(sizes, dim=1)
        count = len(self.layer_shapes)
        weights = [
            w.reshape(-1, o, i)
            for w, (i, o) in zip(parts[:count], self.layer_shapes)
        ]
        return weights, list(parts[count:])

    def forward(
        self,
        params: Tensor,
        fine: Tensor | None,
        rel_points: Tensor,
        labels: Tensor | None = None,
    ) -> Tensor:
        """Point logits of each RoI's own MLP.

        Args:
            params (Tensor): (R, num_params) predicted parameters.
            fine (Tensor, optional): (R, C_fine, P) fine-grained features
                (None without ``image_features``).
            rel_points (Tensor): (R, P, 2) box-relative points.
            labels (Tensor, optional): (R,) classes; when given, only that
                output row of the last layer is evaluated.

        Returns:
            Tensor: (R, K or 1, P) logits, (R, 1, P) with ``labels``.
        """
        inputs = []
        if self.image_features:
            if fine is None or fine.shape[1] != self.in_channels:
                got = None if fine is None else fine.shape[1]
                raise ValueError(
                    f'ImplicitPointHead expects {self.in_channels} '
                    f'fine-grained channels, got {got}'
                )
            inputs.append(fine)
        if self.encoding is not None:
            inputs.append(self.encoding(rel_points).to(params.dtype))
        x = inputs[0] if len(inputs) == 1 else torch.cat(inputs, dim=1)
        weights, biases = self.split_params(params)
        for w, b in zip(weights[:-1], biases[:-1]):
            x = torch.relu(torch.baddbmm(b[:, :, None], w, x))
        w, b = weights[-1], biases[-1]
        if labels is not None:
            # Only the predicted class's output row of each RoI's MLP.
            rows = torch.arange(len(w), device=w.device)
            channel = class_channel(labels, self.out_channels).long()
            w = w[rows, channel][:, None]
            b = b[rows, channel][:, None]
        return torch.baddbmm(b[:, :, None], w, x)

    def sample_train_points(self, params: Tensor, labels: Tensor) -> Tensor:
        """Uniform random training points (no importance sampling).

        Args:
            params (Tensor): (R, num_params) predicted parameters (their
                count, device and dtype are the points').
            labels (Tensor): Unused (the points do not depend on the class).

        Returns:
            Tensor: (R, num_train_points, 2) box-relative points.
        """
        return torch.rand(
            params.shape[0],
            self.num_train_points,
            2,
            device=params.device,
            dtype=params.dtype,
        )

    def _fine(
        self,
        fine_feats: Sequence[Tensor],
        fine_strides: Sequence[int],
        rois: Tensor,
        rel_points: Tensor,
    ) -> Tensor | None:
        if not self.image_features:
            return None
        return sample_roi_points(fine_feats, fine_strides, rois, rel_points)

    def loss_and_target(
        self, params: Tensor, batch: PointTrainBatch, mask_head: BaseModule
    ) -> dict[str, Tensor]:
        """Point loss and the parameter penalty of one training step.

        Implicit PointRend has no coarse mask, so no ``loss_mask``.

        Args:
            params (Tensor): (R, num_params) predicted parameters.
            batch (PointTrainBatch): The step's positives.
            mask_head (BaseModule): Unused (the parameter head).

        Returns:
            dict[str, Tensor]: ``loss_point`` and ``loss_params`` (zeros
            still connected to the graph when there are no positives).
        """
        if batch.num_rois == 0:
            zero = params.sum() * 0
            return dict(loss_point=zero, loss_params=zero)
        source = self.point_targets
        rel_points, targets = source.points_and_targets(self, params, batch)
        fine = self._fine(
            batch.fine_feats, batch.fine_strides, batch.rois, rel_points
        )
        labels = batch.labels if source.label_channel_only else None
        logits = self(params, fine, rel_points, labels)
        return dict(
            loss_point=source.point_loss(self, logits, targets, batch.labels),
            loss_params=self.params_penalty(params),
        )

    def point_predictor(
        self,
        fine_feats: Sequence[Tensor],
        fine_strides: Sequence[int],
        rois: Tensor,
        params: Tensor,
        labels: Tensor,
        plan: RenderPlan,
    ) -> PointPredictor:
        """The renderer's point predictor: each detection's own MLP.

        Args:
            fine_feats (Sequence[Tensor]): Fine-grained levels.
            fine_strides (Sequence[int]): Their strides.
            rois (Tensor): (R, 5) detections.
            params (Tensor): (R, num_params) their predicted parameters.
            labels (Tensor): (R,) predicted classes.
            plan (RenderPlan): Unused (one path for every render size).

        Returns:
            PointPredictor: (R, P, 2) box-relative points -> (R, 1, P)
            logits of each detection's class.
        """
        return lambda pts: self(
            params,
            self._fine(fine_feats, fine_strides, rois, pts),
            pts,
            labels,
        )

    def params_penalty(self, params: Tensor) -> Tensor:
        """``params_l2`` x the mean square of the predicted parameters.

        Args:
            params (Tensor): (R, num_params) predicted parameters.

        Returns:
            Tensor: Scalar penalty.
        """
        return self.params_l2 * params.pow(2).mean()


@MODELS.register_module()
class ImplicitParamHead(PointRendCoarseMaskHead):
    """The PointRend coarse head predicting a parameter vector per RoI.

    Same layers as :class:`PointRendCoarseMaskHead` (2x2 stride-2 conv,
    two 1024-wide FCs) with a final linear layer of ``num_params`` outputs,
    initialised N(0, 0.001). ``num_params`` is set by
    :class:`ImplicitPointRendRoIHead` from its point head. Its last layer
    is large: 1024 x 283,472 weights (290 M) for the class-specific COCO
    head, see docs/implicit_pointrend.md.

    Args:
        num_params (int): Parameters to predict per RoI.
        num_classes (int): Number of classes (for pasting and validation).
        **kwargs: Passed to :class:`PointRendCoarseMaskHead`.
    """

    def __init__(self, num_params: int, num_classes: int, **kwargs) -> None:
        super().__init__(num_classes=num_classes, **kwargs)
        check_positive_ints('ImplicitParamHead', num_params=num_params)
        self.num_params = num_params
        # The coarse head's S x S x K output layer becomes the parameter
        # predictor.
        self.fc_logits = nn.Linear(self.fc_logits.in_features, num_params)

    def forward(self, x: Tensor) -> Tensor:
        """Predicted parameters.

        Args:
            x (Tensor): (R, C, 2S, 2S) RoI features.

        Returns:
            Tensor: (R, num_params).
        """
        x = F.relu(self.downsample_conv(x)).flatten(1)
        for fc in self.fcs:
            x = F.relu(fc(x))
        return self.fc_logits(x)
