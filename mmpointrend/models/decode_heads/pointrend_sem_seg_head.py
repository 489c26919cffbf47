"""Semantic PointRend: the point-head stage of a cascade segmentor."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from mmseg.models.decode_heads.cascade_decode_head import (
    BaseCascadeDecodeHead,
)
from mmseg.models.losses import accuracy
from mmseg.models.utils import resize
from mmseg.utils import SampleList
from torch import Tensor

from mmpointrend.registry import MODELS, TASK_UTILS
from mmpointrend.utils.typing_utils import ConfigType, OptConfigType
from mmpointrend.utils.validation import check_counts, check_positive_ints

from ..utils.point_features import point_labels, point_sample
from ..utils.point_mlp import build_point_mlp
from ..utils.profiling import region
from ..utils.subdivision import (
    PointPredictor,
    StepObserver,
    SubdivisionSettings,
    render,
)

#: Inference defaults when the segmentor's ``test_cfg`` leaves them out:
#: two x2 steps from a stride-4 coarse map reach the input resolution, and
#: 8192 = 64 x 128 is the cell count of a stride-16 map of a 1024x2048 image.
SEMANTIC_SUBDIVISION = SubdivisionSettings(
    steps=2, num_points=64 * 128, scale_factor=2
)


@MODELS.register_module()
class PointRendSemSegHead(BaseCascadeDecodeHead):
    """Semantic-segmentation point head of PointRend.

    `PointRend: Image Segmentation as Rendering
    <https://arxiv.org/abs/1912.08193>`_.

    The second stage of :class:`PointRendEncoderDecoder`: it takes the neck or
    backbone features and the coarse logits of the first stage, trains a
    point MLP on uncertainty-sampled points, and at inference refines the
    coarse logits by adaptive subdivision.

    Loss keys: ``{loss_name}_point`` for every configured loss (e.g.
    ``loss_ce_point``); logged metric: ``acc_point``.

    Args:
        in_channels (int | Sequence[int]): Channels of each fine-grained
            level selected by ``in_index``.
        in_index (int | Sequence[int]): Indices of the fine-grained levels in
            the feature list (e.g. ``[0]`` for FPN P2 or ResNet res2).
        channels (int): Width of the hidden point-MLP layers.
        num_classes (int): Number of classes; must equal the coarse stage's.
        num_fcs (int): Hidden layers of the point MLP. Defaults to 3.
        coarse_pred_each_layer (bool): Re-concatenate the coarse logits after
            every hidden layer. Defaults to True (mmseg, detectron2 instance;
            detectron2 semantic uses False).
        point_sampler (dict, optional): Config of the training point sampler.
            Defaults to ``UncertaintyPointSampler(num_points=2048,
            oversample_ratio=3, importance_sample_ratio=0.75)``.
        predictor_std (float): Std of the normal init of the point
            predictor. Defaults to 0.01 (mmseg).
        use_gemm (bool): See :class:`PointMLP`. Defaults to True.
        mlp (dict, optional): The point MLP component (see
            :mod:`mmpointrend.models.roi_heads.mask_heads.mask_point_head`
            for the contract); defaults to :class:`PointMLP` with the
            arguments above.
        uncertainty (dict, optional): Uncertainty measure for training
            points and rendering. Defaults to ``LogitUncertainty``.
        **kwargs: Passed to :class:`mmseg.models.decode_heads.BaseDecodeHead`
            (``out_channels``, ``threshold``, ``loss_decode``,
            ``ignore_index``, ``dropout_ratio``, ``align_corners``, ...).
    """

    def __init__(
        self,
        in_channels: int | Sequence[int],
        in_index: int | Sequence[int],
        channels: int,
        *,
        num_classes: int,
        num_fcs: int = 3,
        coarse_pred_each_layer: bool = True,
        point_sampler: OptConfigType = None,
        predictor_std: float = 0.01,
        use_gemm: bool = True,
        mlp: OptConfigType = None,
        uncertainty: OptConfigType = None,
        **kwargs,
    ) -> None:
        in_channels = (
            [in_channels] if isinstance(in_channels, int) else in_channels
        )
        in_index = [in_index] if isinstance(in_index, int) else in_index
        check_positive_ints(
            'PointRendSemSegHead',
            channels=channels,
            num_classes=num_classes,
        )
        check_counts('PointRendSemSegHead', num_fcs=num_fcs)
        if kwargs.get('align_corners', False):
            raise ValueError(
                'PointRendSemSegHead supports only align_corners=False: point '
                'coordinates are cell centres, which address pixels exactly '
                'only with align_corners=False. Set align_corners=False on '
                'both decode heads.'
            )
        kwargs.pop('input_transform', None)
        kwargs.setdefault('init_cfg', None)
        # mmseg's default is an unqualified 'CrossEntropyLoss', which would
        # resolve in whatever default scope is active (mmdet's has a class of
        # that name too); ours names its library.
        kwargs.setdefault(
            'loss_decode',
            dict(
                type='mmseg.CrossEntropyLoss',
                use_sigmoid=False,
                loss_weight=1.0,
            ),
        )
        dropout_ratio = kwargs.pop('dropout_ratio', -1)
        super().__init__(
            in_channels=list(in_channels),
            channels=channels,
            num_classes=num_classes,
            in_index=list(in_index),
            input_transform='multiple_select',
            dropout_ratio=-1,
            **kwargs,
        )
        # BaseDecodeHead builds a pixel classifier this head does not use.
        del self.conv_seg
        if mlp is None:
            mlp = dict(
                type='mmpointrend.PointMLP',
                fc_channels=channels,
                num_fcs=num_fcs,
                coarse_pred_each_layer=coarse_pred_each_layer,
                dropout_ratio=dropout_ratio,
                predictor_std=predictor_std,
                use_gemm=use_gemm,
            )
        self.mlp = build_point_mlp(
            mlp,
            fine_channels=sum(self.in_channels),
            coarse_channels=self.out_channels,
            out_channels=self.out_channels,
        )
        if point_sampler is None:
            point_sampler = dict(
                type='mmpointrend.UncertaintyPointSampler', num_points=2048
            )
        self.point_sampler = TASK_UTILS.build(point_sampler)
        self.uncertainty = TASK_UTILS.build(
            uncertainty or dict(type='mmpointrend.LogitUncertainty')
        )

    @staticmethod
    def subdivision_settings(test_cfg: OptConfigType) -> SubdivisionSettings:
        """The renderer's settings: ``test_cfg`` over the semantic defaults.

        Args:
            test_cfg (dict, optional): The segmentor's ``test_cfg``.

        Returns:
            SubdivisionSettings: Validated settings.
        """
        return SubdivisionSettings.from_cfg(test_cfg, SEMANTIC_SUBDIVISION)

    def _transform_inputs(self, inputs: list[Tensor]) -> list[Tensor]:
        """The fine-grained levels named by ``in_index``, checked.

        Args:
            inputs (list[Tensor]): Multi-level features of the backbone/neck.

        Returns:
            list[Tensor]: The selected (B, C_l, H_l, W_l) levels.
        """
        if max(self.in_index) >= len(inputs):
            raise ValueError(
                f'point head in_index={self.in_index} but the backbone/neck '
                f'gives {len(inputs)} levels; use indices below {len(inputs)}'
            )
        feats = [inputs[i] for i in self.in_index]
        actual = [f.shape[1] for f in feats]
        if actual != list(self.in_channels):
            raise ValueError(
                f'point head in_channels={list(self.in_channels)} but the '
                f'levels in_index={self.in_index} have {actual} channels; '
                f'set decode_head[1].in_channels={actual}'
            )
        return feats

    def point_predictor(
        self, inputs: list[Tensor], prev_output: Tensor
    ) -> PointPredictor:
        """The renderer's point predictor: the point head at given points.

        Args:
            inputs (list[Tensor]): Multi-level features of the backbone/neck
                (the levels ``in_index`` names are read).
            prev_output (Tensor): (B, K, h, w) coarse-stage logits.

        Returns:
            PointPredictor: (B, P, 2) normalized ``(x, y)`` -> (B, K, P)
            refined logits.
        """
        feats = self._transform_inputs(inputs)
        return lambda points: self._predict_points(feats, prev_output, points)

    def _predict_points(
        self, feats: list[Tensor], coarse_logits: Tensor, points: Tensor
    ) -> Tensor:
        """Point-head logits at normalized points.

        Args:
            feats (list[Tensor]): Selected fine-grained levels, each
                (B, C_l, H_l, W_l).
            coarse_logits (Tensor): (B, K, h, w) coarse-stage logits.
            points (Tensor): (B, P, 2) normalized ``(x, y)``.

        Returns:
            Tensor: (B, K, P) refined logits.
        """
        with region('feature sampling'):
            samples = [point_sample(f, points) for f in feats]
            # cat copies even a single tensor: (B, C, P) per step for nothing
            fine = (
                samples[0] if len(samples) == 1 else torch.cat(samples, dim=1)
            )
            coarse = point_sample(coarse_logits, points)
        with region('point MLP'):
            return self.mlp(fine, coarse)

    @staticmethod
    def _check_prev_output(prev_output: object) -> None:
        if not isinstance(prev_output, Tensor):
            raise TypeError(
                'PointRendSemSegHead needs the coarse logits of a previous '
                'stage but got '
                f'{type(prev_output).__name__}: it cannot be the only decode '
                "head. Use type='mmpointrend.PointRendEncoderDecoder' with "
                'decode_head=[coarse_head, point_head].'
            )

    # -- inference ------------------------------------------------------------
    def forward(
        self,
        inputs: list[Tensor],
        prev_output: Tensor,
        test_cfg: OptConfigType = None,
        on_step: StepObserver | None = None,
    ) -> Tensor:
        """Render refined logits by adaptive subdivision.

        Args:
            inputs (list[Tensor]): Multi-level features of the backbone/neck.
            prev_output (Tensor): (B, K, h, w) coarse logits.
            test_cfg (dict, optional): ``subdivision_steps``,
                ``subdivision_num_points`` and ``scale_factor``; missing keys
                take :data:`SEMANTIC_SUBDIVISION`.
            on_step (StepObserver, optional): Observer of every step (see
                :func:`render_by_subdivision`).

        Returns:
            Tensor: (B, K, h * s**steps, w * s**steps) refined logits.
        """
        self._check_prev_output(prev_output)
        plan = self.subdivision_settings(test_cfg).plan(
            tuple(prev_output.shape[-2:])
        )
        return render(
            prev_output,
            self.point_predictor(inputs, prev_output),
            self.uncertainty,
            plan,
            on_step,
        )

    def predict(
        self,
        inputs: list[Tensor],
        prev_output: Tensor,
        batch_img_metas: list[dict],
        test_cfg: ConfigType,
    ) -> Tensor:
        """Refined logits resized to the network input.

        Args:
            inputs (list[Tensor]): Multi-level features of the backbone/neck.
            prev_output (Tensor): (B, K, h, w) coarse logits.
            batch_img_metas (list[dict]): Image meta information.
            test_cfg (dict): Segmentor test config.

        Returns:
            Tensor: (B, K, H_in, W_in) logits at the (padded) input size.
        """
        return self.predict_by_feat(
            self.forward(inputs, prev_output, test_cfg), batch_img_metas
        )

    def predict_by_feat(
        self, seg_logits: Tensor, batch_img_metas: list[dict]
    ) -> Tensor:
        """Resize logits to the input size, skipping a same-size resize.

        Args:
            seg_logits (Tensor): (B, K, H, W) refined logits.
            batch_img_metas (list[dict]): Image meta information.

        Returns:
            Tensor: (B, K, H_in, W_in) logits.
        """
        meta = batch_img_metas[0]
        if isinstance(meta['img_shape'], torch.Size):  # a slide-mode crop
            size = tuple(meta['img_shape'])
        elif 'pad_shape' in meta:
            size = tuple(meta['pad_shape'][:2])
        else:
            size = tuple(meta['img_shape'][:2])
        if tuple(seg_logits.shape[-2:]) == size:
            return seg_logits
        return resize(
            seg_logits, size=size, mode='bilinear', align_corners=False
        )

    # -- training ----------------------------------------------------------
    def loss(
        self,
        inputs: list[Tensor],
        prev_output: Tensor,
        batch_data_samples: SampleList,
        train_cfg: OptConfigType = None,
    ) -> dict[str, Tensor]:
        """Point loss on uncertainty-sampled points.

        Args:
            inputs (list[Tensor]): Multi-level features of the backbone/neck.
            prev_output (Tensor): (B, K, h, w) coarse logits (not detached:
                the point loss also trains the coarse head, as in all public
                implementations).
            batch_data_samples (list[SegDataSample]): Samples with
                ``gt_sem_seg``.
            train_cfg (dict, optional): Unused; the sampler is a component of
                this head (``point_sampler``).

        Returns:
            dict[str, Tensor]: Losses and ``acc_point``.
        """
        self._check_prev_output(prev_output)
        feats = self._transform_inputs(inputs)
        points = self.point_sampler.sample(prev_output, self.uncertainty)
        point_logits = self._predict_points(feats, prev_output, points)
        return self.loss_by_feat(point_logits, points, batch_data_samples)

    def loss_by_feat(
        self,
        point_logits: Tensor,
        points: Tensor,
        batch_data_samples: SampleList,
    ) -> dict[str, Tensor]:
        """Losses of point logits against the labels under the points.

        Args:
            point_logits (Tensor): (B, K, P) point logits.
            points (Tensor): (B, P, 2) normalized point coordinates.
            batch_data_samples (list[SegDataSample]): Samples with
                ``gt_sem_seg``.

        Returns:
            dict[str, Tensor]: Losses and ``acc_point``.
        """
        with region('point loss'):
            return self._point_losses(point_logits, points, batch_data_samples)

    def _point_losses(
        self,
        point_logits: Tensor,
        points: Tensor,
        batch_data_samples: SampleList,
    ) -> dict[str, Tensor]:
        gt = self._stack_batch_gt(batch_data_samples)  # (B, 1, H, W)
        labels = point_labels(gt[:, 0], points)
        losses: dict[str, Tensor] = {}
        loss_modules = (
            self.loss_decode
            if isinstance(self.loss_decode, torch.nn.ModuleList)
            else [self.loss_decode]
        )
        # A batch whose points all carry the ignore label has nothing to learn
        # from; some losses (mmseg's sigmoid cross-entropy) assert on it, so
        # give a zero that keeps the graph connected instead.
        all_ignored = not bool((labels != self.ignore_index).any())
        for module in loss_modules:
            key = f'{module.loss_name}_point'
            if all_ignored:
                value = point_logits.sum() * 0.0
            else:
                value = module(
                    point_logits, labels, ignore_index=self.ignore_index
                )
            losses[key] = losses[key] + value if key in losses else value
        if self.out_channels == 1:
            valid = labels != self.ignore_index
            hits = ((point_logits[:, 0] > 0).long() == labels) & valid
            acc = 100.0 * hits.sum() / valid.sum().clamp(min=1)
            losses['acc_point'] = acc.float()
        else:
            losses['acc_point'] = accuracy(
                point_logits, labels, ignore_index=self.ignore_index
            )
        return losses
