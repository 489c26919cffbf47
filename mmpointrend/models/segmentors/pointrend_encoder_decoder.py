"""Cascade segmentor for semantic PointRend (coarse head + point head)."""

from __future__ import annotations

import torch
from mmengine.config import ConfigDict
from mmseg.models.segmentors import CascadeEncoderDecoder
from mmseg.utils import OptSampleList, SampleList, add_prefix
from torch import Tensor

from mmpointrend.registry import MODELS
from mmpointrend.utils.typing_utils import ConfigType, OptConfigType
from mmpointrend.utils.validation import check_cfg_keys

from ..decode_heads.pointrend_sem_seg_head import PointRendSemSegHead
from ..utils.profiling import region
from ..utils.subdivision import SubdivisionSettings

#: mmseg keeps the training sampler's settings in the segmentor's train_cfg;
#: here the sampler is a component of the point head.
_LEGACY_TRAIN_KEYS = (
    'num_points',
    'oversample_ratio',
    'importance_sample_ratio',
)


@MODELS.register_module()
class PointRendEncoderDecoder(CascadeEncoderDecoder):
    """Encoder-decoder whose decode head is ``[coarse_head, point_head]``.

    Differences from mmseg's :class:`CascadeEncoderDecoder`:

    * the coarse head runs **once** per training iteration (mmseg runs it a
      second time to feed the point head, doubling its cost and its BN
      statistics updates);
    * ``mode='tensor'`` returns the rendered logits at the input resolution
      (usable by FLOPs counters and exporters);
    * configuration mistakes fail at build time with an explanation.

    Args:
        backbone (dict): Backbone config.
        decode_head (list[dict]): ``[coarse_head, point_head]`` configs; the
            point head must be a :class:`PointRendSemSegHead`.
        neck (dict, optional): Neck config.
        auxiliary_head (dict | list[dict], optional): Auxiliary heads.
        train_cfg (dict, optional): Training config (the point sampler is
            configured on the point head).
        test_cfg (dict, optional): ``mode`` ('whole' or 'slide', with
            ``crop_size``/``stride``), ``subdivision_steps``,
            ``subdivision_num_points`` and ``scale_factor``.
        data_preprocessor (dict, optional): Data preprocessor config.
        pretrained (str, optional): Backbone checkpoint.
        init_cfg (dict, optional): Init config.
        num_stages (int, optional): Accepted for compatibility with mmseg
            configs; must equal ``len(decode_head)``.
        channels_last (bool): Keep the backbone, the neck and the heads'
            4-d weights and activations in channels-last (NHWC) memory
            format. Only the memory layout changes (results differ by float
            rounding); oneDNN's CPU convolutions run faster on it
            (``tools/analysis/benchmark_semantic.py`` case c shows the
            effect), and the point head reads NHWC features several times
            faster. Layers that ``view`` a feature map as
            ``(B, C, H * W)`` need contiguous maps and fail on NHWC, so
            custom heads may need it off. Defaults to False.
    """

    def __init__(
        self,
        backbone: ConfigType,
        decode_head: list[ConfigType],
        neck: OptConfigType = None,
        auxiliary_head: OptConfigType = None,
        train_cfg: OptConfigType = None,
        test_cfg: OptConfigType = None,
        data_preprocessor: OptConfigType = None,
        pretrained: str | None = None,
        init_cfg: OptConfigType = None,
        num_stages: int | None = None,
        channels_last: bool = False,
    ) -> None:
        is_list = isinstance(decode_head, (list, tuple))
        num_given = len(decode_head) if is_list else 1
        if num_given != 2:
            raise ValueError(
                'PointRendEncoderDecoder needs decode_head=[coarse_head, '
                'point_head] (a coarse stage such as FPNHead or ASPPHead, '
                'then mmpointrend.PointRendSemSegHead); got '
                f'{type(decode_head).__name__} with {num_given} entries'
            )
        if num_stages is not None and num_stages != len(decode_head):
            raise ValueError(
                f'num_stages={num_stages} but decode_head has '
                f'{len(decode_head)} entries; drop num_stages or make them '
                'agree'
            )
        legacy = [k for k in _LEGACY_TRAIN_KEYS if k in (train_cfg or {})]
        if legacy:
            raise ValueError(
                f'model.train_cfg has mmseg-style keys {legacy}; in '
                'mmpointrend they belong to the point head: set '
                'decode_head[1].point_sampler=dict(type='
                "'mmpointrend.UncertaintyPointSampler', num_points=..., "
                'oversample_ratio=..., importance_sample_ratio=...) and '
                'remove them from train_cfg'
            )
        # mmseg reads train_cfg only in its PointHead (whose keys moved to
        # the point sampler, above) and test_cfg's mode and window.
        check_cfg_keys(train_cfg, (), 'model.train_cfg')
        check_cfg_keys(
            test_cfg,
            ('mode', 'crop_size', 'stride')
            + tuple(key for _, key in SubdivisionSettings.CFG_KEYS),
            'model.test_cfg',
        )
        # mmseg reads test_cfg by attribute (test_cfg.mode).
        test_cfg = ConfigDict(test_cfg or {})
        test_cfg.setdefault('mode', 'whole')
        _check_inference_mode(test_cfg)
        super().__init__(
            num_stages=len(decode_head),
            backbone=backbone,
            decode_head=list(decode_head),
            neck=neck,
            auxiliary_head=auxiliary_head,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor,
            pretrained=pretrained,
            init_cfg=init_cfg,
        )
        coarse, point = self.decode_head
        if not isinstance(point, PointRendSemSegHead):
            raise TypeError(
                'the last decode head must be mmpointrend.PointRendSemSegHead,'
                f' got {type(point).__name__}'
            )
        if isinstance(coarse, PointRendSemSegHead):
            raise TypeError(
                'the first decode head is a point head; it must be a coarse '
                'head (e.g. FPNHead, ASPPHead) that predicts dense logits'
            )
        if (coarse.num_classes, coarse.out_channels) != (
            point.num_classes,
            point.out_channels,
        ):
            raise ValueError(
                'coarse and point heads disagree: coarse num_classes='
                f'{coarse.num_classes}, out_channels={coarse.out_channels}; '
                f'point num_classes={point.num_classes}, out_channels='
                f'{point.out_channels}. Set the same values on both.'
            )
        self._check_neck_channels()
        # mmseg's postprocess_result reads ``self.decode_head.threshold``
        # (binary mode); here decode_head is a ModuleList, so mirror it.
        self.decode_head.threshold = point.threshold
        # mmseg's init_model reads ``decode_head.num_classes`` for checkpoints
        # without class names.
        self.decode_head.num_classes = point.num_classes
        # Validate the inference settings now, not at the first test batch.
        point.subdivision_settings(self.test_cfg)
        self.channels_last = channels_last
        if channels_last:
            # In place on every 4-d parameter and buffer: initialisation and
            # checkpoint loading copy into them and keep the layout.
            self.to(memory_format=torch.channels_last)

    def _check_neck_channels(self) -> None:
        """The coarse head must read the channel count the neck writes.

        Otherwise the first forward fails inside a convolution with a
        shape error that names no config key. (The point head's levels are
        checked at the first forward, against the real feature maps.)
        """
        neck_out = (
            getattr(self.neck, 'out_channels', None)
            if (self.with_neck)
            else None
        )
        if not isinstance(neck_out, int):
            return
        head = self.decode_head[0]
        given = head.in_channels
        given = [given] if isinstance(given, int) else list(given)
        if any(c != neck_out for c in given):
            raise ValueError(
                f'decode_head[0] ({type(head).__name__}) has '
                f'in_channels={head.in_channels} but the neck '
                f'({type(self.neck).__name__}) outputs {neck_out} channels '
                f'per level; set decode_head[0].in_channels='
                f'{[neck_out] * len(given)}'
            )

    def extract_feat(self, inputs: Tensor) -> list[Tensor]:
        """Backbone (and neck) features, NHWC with ``channels_last``.

        Args:
            inputs (Tensor): (B, 3, H, W) images.

        Returns:
            list[Tensor]: Multi-level features.
        """
        if self.channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with region('backbone + neck'):
            return super().extract_feat(inputs)

    def _decode_head_forward_train(
        self, inputs: list[Tensor], data_samples: SampleList
    ) -> dict:
        """Coarse loss and point loss from a single coarse forward.

        Args:
            inputs (list[Tensor]): Multi-level features.
            data_samples (list[SegDataSample]): Samples with ``gt_sem_seg``.

        Returns:
            dict: ``decode_0.*`` coarse and ``decode_1.*`` point losses.
        """
        coarse_head, point_head = self.decode_head
        with region('coarse head + loss'):
            coarse_logits = coarse_head.forward(inputs)
            coarse_losses = self._coarse_losses(
                coarse_head, coarse_logits, data_samples
            )
        losses = add_prefix(coarse_losses, 'decode_0')
        point_losses = point_head.loss(
            inputs, coarse_logits, data_samples, self.train_cfg
        )
        losses.update(add_prefix(point_losses, 'decode_1'))
        return losses

    @staticmethod
    def _coarse_losses(
        coarse_head, coarse_logits: Tensor, data_samples: SampleList
    ) -> dict:
        """The coarse head's losses; zeros when every pixel is ignored.

        mmseg's sigmoid cross-entropy asserts on a batch without a single
        valid label (e.g. crops of unlabelled regions); such a batch has
        nothing to learn from, so its loss is a zero that keeps the graph.

        Args:
            coarse_head (BaseDecodeHead): The first stage.
            coarse_logits (Tensor): (B, K, h, w) its logits.
            data_samples (list[SegDataSample]): Samples with ``gt_sem_seg``.

        Returns:
            dict: Losses and ``acc_seg``.
        """
        ignore = coarse_head.ignore_index
        if any((s.gt_sem_seg.data != ignore).any() for s in data_samples):
            return coarse_head.loss_by_feat(coarse_logits, data_samples)
        modules = coarse_head.loss_decode
        if not isinstance(modules, torch.nn.ModuleList):
            modules = [modules]
        zero = coarse_logits.sum() * 0.0
        losses = {m.loss_name: zero for m in modules}
        losses['acc_seg'] = zero.detach()
        return losses

    def encode_decode(
        self, inputs: Tensor, batch_img_metas: list[dict]
    ) -> Tensor:
        """Coarse prediction refined by subdivision, at the input size.

        Args:
            inputs (Tensor): (B, 3, H, W) images.
            batch_img_metas (list[dict]): Image meta information.

        Returns:
            Tensor: (B, K, H, W) logits.
        """
        feats = self.extract_feat(inputs)
        coarse_logits = self.decode_head[0].forward(feats)
        return self.decode_head[1].predict(
            feats, coarse_logits, batch_img_metas, self.test_cfg
        )

    def _forward(
        self, inputs: Tensor, data_samples: OptSampleList = None
    ) -> Tensor:
        """Tensor mode: rendered logits at the input resolution.

        Args:
            inputs (Tensor): (B, 3, H, W) images.
            data_samples (list[SegDataSample], optional): Unused.

        Returns:
            Tensor: (B, K, H, W) logits.
        """
        shape = tuple(inputs.shape[2:])
        if inputs.shape[0] == 0:  # an empty batch: empty logits, no error
            channels = self.decode_head[-1].out_channels
            return inputs.new_zeros((0, channels, *shape))
        # One meta serves the whole batch (the heads read only the first,
        # all images share the padded shape); a list as long as the batch
        # would fix the batch size in an exported graph.
        metas = [dict(img_shape=shape, pad_shape=shape)]
        return self.encode_decode(inputs, metas)


def _check_inference_mode(test_cfg: dict) -> None:
    """Validate ``mode`` and the slide-window keys at build time.

    Args:
        test_cfg (dict): Segmentor test config.
    """
    mode = test_cfg['mode']
    if mode not in ('whole', 'slide'):
        raise ValueError(
            f"test_cfg.mode must be 'whole' or 'slide', got {mode!r}"
        )
    if mode == 'slide':
        for key in ('crop_size', 'stride'):
            value = test_cfg.get(key)
            if (
                not isinstance(value, (tuple, list))
                or len(value) != 2
                or not all(isinstance(v, int) and v > 0 for v in value)
            ):
                raise ValueError(
                    f"test_cfg.mode='slide' needs {key}=(h, w) of positive "
                    f'ints, got {value!r}; e.g. crop_size=(512, 1024), '
                    'stride=(341, 683)'
                )
