"""Turn an mmseg or mmdet config into its PointRend version.

:func:`pointrendify` builds the base model once on a small input, reads off
what PointRend needs (the feature levels with their strides and channels,
the coarse head's output stride, the class count), and returns the few
changes a thin config makes on top of the base:

* **semantic** (mmseg ``EncoderDecoder``): the decode head becomes the
  coarse stage of :class:`~mmpointrend.models.PointRendEncoderDecoder`; a
  :class:`~mmpointrend.models.PointRendSemSegHead` reads the finest level(s)
  the model exposes; inference renders ``log2(coarse stride)`` x2 steps, so
  the output has the input's resolution;
* **instance** (mmdet two-stage detector with a mask head): the mask branch
  becomes PointRend's coarse head + point head on the finest level
  (:class:`~mmpointrend.models.PointRendMaskRoIHead`, or
  :class:`~mmpointrend.models.PointRendCascadeRoIHead` for Cascade R-CNN).

``tools/misc/pointrendify.py`` writes the result as a config file whose
``_base_`` is the given config.
"""

from __future__ import annotations

import copy
import math
import os.path as osp
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mmengine.config import Config

#: Inference points per step for semantic models (the paper uses about
#: 8k for 1024x2048 Cityscapes images; mmseg 8196).
SEMANTIC_NUM_POINTS = 8192
#: Input side of the probe when the config names no crop size.
PROBE_SIZE = 256


class PointRendifyError(ValueError):
    """A config PointRend cannot be added to, with the reason."""


@dataclass
class FeatureLevel:
    """One feature map the base model gives its heads.

    Attributes:
        index (int): Position in the backbone/neck output.
        stride (int): Input pixels per feature cell.
        channels (int): Channels.
    """

    index: int
    stride: int
    channels: int


@dataclass
class Probe:
    """What building the base model once showed.

    Attributes:
        task (str): ``'semantic'`` or ``'instance'``.
        levels (list[FeatureLevel]): Feature levels the heads receive.
        num_classes (int): Classes of the coarse prediction.
        input_size (tuple[int, int]): The probe's input (H, W).
        coarse_stride (int | None): Output stride of the semantic decode
            head.
        roi_head (str | None): Type name of the detector's RoI head.
    """

    task: str
    levels: list[FeatureLevel]
    num_classes: int
    input_size: tuple[int, int]
    coarse_stride: int | None = None
    roi_head: str | None = None

    def describe(self) -> str:
        """One line per fact, for the generated config's header."""
        levels = ', '.join(
            f'[{lv.index}] stride {lv.stride} ({lv.channels} ch)'
            for lv in self.levels
        )
        lines = [
            f'probe: {self.task} model built once on a '
            f'{self.input_size[0]}x{self.input_size[1]} input',
            f'feature levels: {levels}',
            f'classes: {self.num_classes}',
        ]
        if self.coarse_stride is not None:
            lines.append(f'decode head output stride: {self.coarse_stride}')
        if self.roi_head is not None:
            lines.append(f'RoI head: {self.roi_head}')
        return '\n'.join(lines)


@dataclass
class PointRendified:
    """The result of :func:`pointrendify`.

    Attributes:
        base (Config): The base config.
        model (dict): The ``model`` changes of the thin config; the value
            :data:`COARSE_HEAD` stands for ``_base_.model.decode_head``.
        probe (Probe): What the base model showed.
        notes (list[str]): Why each choice was made.
    """

    base: Config
    model: dict
    probe: Probe
    notes: list[str] = field(default_factory=list)

    def config(self) -> Config:
        """The PointRend config in memory (base with the changes merged)."""
        cfg = copy.deepcopy(self.base)
        cfg.merge_from_dict(
            dict(model=_resolve(self.model, self.base)), allow_list_keys=False
        )
        return cfg

    def text(self, base_ref: str) -> str:
        """The thin config file: ``_base_ = base_ref`` and the changes.

        Args:
            base_ref (str): How the file names its base (``pkg::path`` or a
                path relative to the file).

        Returns:
            str: Python config text.
        """
        header = [
            '# PointRend on top of the config below, written by',
            '# tools/misc/pointrendify.py (mmpointrend.pointrendify).',
        ]
        header += [f'# {line}' for line in self.probe.describe().split('\n')]
        header += [f'# {note}' for note in self.notes]
        body = f'model = {_format(self.model, 0)}\n'
        return '\n'.join(header) + f'\n_base_ = {base_ref!r}\n' + body


class _Raw(str):
    """Emitted as is in the config text (a reference to the base)."""


#: ``_base_.model.decode_head``: the base decode head, kept as the coarse
#: stage.
COARSE_HEAD = _Raw('_base_.model.decode_head')


def _resolve(obj: Any, base: Config) -> Any:
    if isinstance(obj, _Raw):
        return copy.deepcopy(base.model.decode_head)
    if isinstance(obj, dict):
        return {k: _resolve(v, base) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_resolve(v, base) for v in obj]
    return obj


def _format(obj: Any, indent: int) -> str:
    """``dict(...)`` / list / literal text of a config value, 4-space."""
    pad = ' ' * (indent + 4)
    if isinstance(obj, _Raw):
        return str(obj)
    if isinstance(obj, dict):
        if not obj:
            return 'dict()'
        items = [f'{pad}{k}={_format(v, indent + 4)}' for k, v in obj.items()]
        return 'dict(\n' + ',\n'.join(items) + ')'
    if isinstance(obj, list):
        items = [f'{pad}{_format(v, indent + 4)}' for v in obj]
        if all(isinstance(v, (int, float, str)) for v in obj):
            return repr(obj)
        return '[\n' + ',\n'.join(items) + ',\n' + ' ' * indent + ']'
    return repr(obj)


def _load(config: str | Config) -> Config:
    if isinstance(config, Config):
        return copy.deepcopy(config)
    from mmpointrend.apis.inference import resolve_config

    return Config.fromfile(resolve_config(config))


def _probe_size(input_size: Sequence[int] | None) -> tuple:
    if input_size is not None:
        if len(input_size) != 2 or min(input_size) < 32:
            raise PointRendifyError(
                f'input_size must be (H, W) of at least 32 pixels, got '
                f'{input_size}'
            )
        return tuple(int(v) for v in input_size)
    return (PROBE_SIZE, PROBE_SIZE)


def _levels(feats: Any, size: tuple[int, int], what: str) -> list:
    if not isinstance(feats, (list, tuple)):
        feats = [feats]
    levels = []
    for index, feat in enumerate(feats):
        if not hasattr(feat, 'shape') or feat.dim() != 4:
            raise PointRendifyError(
                f'{what} output {index} is not a (B, C, H, W) feature map '
                f'({type(feat).__name__}); PointRend reads feature maps'
            )
        stride = round(size[0] / feat.shape[-2])
        levels.append(FeatureLevel(index, stride, int(feat.shape[1])))
    return levels


def _fine(
    levels: list[FeatureLevel], fine_levels: Sequence[int] | None, what: str
) -> list[FeatureLevel]:
    """The point head's levels: chosen, or the finest the model has."""
    if fine_levels:
        by_index = {lv.index: lv for lv in levels}
        unknown = [i for i in fine_levels if i not in by_index]
        if unknown:
            raise PointRendifyError(
                f'fine level(s) {unknown} do not exist: the {what} gives '
                f'levels {sorted(by_index)}'
            )
        return [by_index[i] for i in fine_levels]
    finest = min(lv.stride for lv in levels)
    if finest > 8:
        raise PointRendifyError(
            f'the {what} gives no stride-4 or stride-8 feature map (finest '
            f'stride {finest}): the point head needs fine-grained features. '
            'Use a backbone/neck with a high-resolution level, or name '
            'levels with fine_levels / --fine-levels knowingly'
        )
    return [lv for lv in levels if lv.stride == finest][:1]


def pointrendify(
    config: str | Config,
    fine_levels: Sequence[int] | None = None,
    steps: int | None = None,
    num_points: int | None = None,
    train_points: int | None = None,
    input_size: Sequence[int] | None = None,
) -> PointRendified:
    """PointRend for an mmseg ``EncoderDecoder`` or an mmdet mask detector.

    Args:
        config (str | Config): Base config: a path, ``mmseg::``/``mmdet::``
            name or a loaded config.
        fine_levels (Sequence[int], optional): Feature levels (indices into
            the backbone/neck output) the point head reads. Defaults to the
            finest level the model gives, found by building it.
        steps (int, optional): Inference subdivision steps. Defaults:
            ``log2(coarse stride)`` for semantic models (the render ends at
            the input resolution), the RoI head's 5 (7x7 to 224x224) for
            instance models.
        num_points (int, optional): Points re-predicted per step. Defaults
            to 8192 (semantic) and the RoI head's 28x28 (instance).
        train_points (int, optional): Semantic training points per image.
            Defaults to the cells of a stride-16 map of the training crop
            (``crop_size`` of the config), else 2048.
        input_size (Sequence[int], optional): (H, W) of the probe input.
            Defaults to 256x256; backbones with fixed-size position
            embeddings need their crop size here.

    Returns:
        PointRendified: The changes, the probe and the reasons.

    Raises:
        PointRendifyError: The config is not an ``EncoderDecoder`` or a
            two-stage detector with a mask head, or has no fine features.
    """
    cfg = _load(config)
    model = cfg.get('model')
    if not model:
        raise PointRendifyError('the config has no model')
    mmpointrend_types = str(model.get('type', ''))
    if 'mmpointrend.' in mmpointrend_types or 'PointRend' in str(
        model.get('roi_head', {}).get('type', '')
    ):
        raise PointRendifyError('the config is already a PointRend model')
    size = _probe_size(input_size)
    if 'roi_head' in model:
        return _instance(cfg, size, fine_levels, steps, num_points)
    return _semantic(cfg, size, fine_levels, steps, num_points, train_points)


def _build(cfg: Config) -> Any:
    from mmpointrend.apis.inference import build_model

    try:
        model, _ = build_model(cfg)
    except Exception as exc:
        raise PointRendifyError(
            f'the base model does not build: {type(exc).__name__}: {exc}'
        ) from exc
    return model.eval()


def _forward(fn: Any, size: tuple, what: str) -> Any:
    import torch

    try:
        with torch.no_grad():
            return fn(torch.zeros(1, 3, *size))
    except Exception as exc:
        raise PointRendifyError(
            f'the {what} failed on a {size[0]}x{size[1]} probe input '
            f'({type(exc).__name__}: {exc}); pass input_size / '
            '--probe-size with a size the model accepts (its crop size)'
        ) from exc


def _crop(cfg: Config) -> tuple[int, int] | None:
    crop = cfg.get('crop_size')
    if isinstance(crop, (list, tuple)) and len(crop) == 2:
        return int(crop[0]), int(crop[1])
    return None


def _semantic(
    cfg: Config,
    size: tuple,
    fine_levels: Sequence[int] | None,
    steps: int | None,
    num_points: int | None,
    train_points: int | None,
) -> PointRendified:
    from mmseg.models.segmentors import CascadeEncoderDecoder, EncoderDecoder

    net = _build(cfg)
    if not isinstance(net, EncoderDecoder) or isinstance(
        net, CascadeEncoderDecoder
    ):
        raise PointRendifyError(
            f'model type {type(net).__name__} is not an mmseg EncoderDecoder '
            '(a cascade already has a second stage; other segmentors are '
            'not supported)'
        )
    feats = _forward(net.extract_feat, size, 'backbone/neck')
    levels = _levels(feats, size, 'backbone/neck')
    with_feats = lambda x: net.decode_head.forward(net.extract_feat(x))  # noqa: E731
    logits = _forward(with_feats, size, 'decode head')
    head = net.decode_head
    if logits.shape[1] != head.num_classes:
        raise PointRendifyError(
            f'the decode head predicts {logits.shape[1]} channels for '
            f'{head.num_classes} classes (a sigmoid binary head); PointRend '
            'renders softmax class logits'
        )
    coarse = size[0] / logits.shape[-2]
    if coarse < 1.5:
        raise PointRendifyError(
            'the decode head already predicts at the input resolution: '
            'PointRend has nothing to render'
        )
    coarse_stride = 2 ** round(math.log2(coarse))
    if abs(coarse - coarse_stride) > 0.05 * coarse_stride:
        raise PointRendifyError(
            f'the decode head output stride {coarse:.2f} is not a power of '
            'two; x2 subdivision steps cannot end at the input resolution'
        )
    fine = _fine(levels, fine_levels, 'backbone/neck')
    probe = Probe(
        'semantic',
        levels,
        head.num_classes,
        size,
        coarse_stride=coarse_stride,
    )
    notes = [
        f'point head reads level(s) {[lv.index for lv in fine]} '
        f'(stride {fine[0].stride})',
    ]
    if steps is None:
        steps = int(math.log2(coarse_stride))
        notes.append(
            f'{steps} subdivision steps: stride {coarse_stride} -> 1 '
            '(the input resolution)'
        )
    crop = _crop(cfg)
    if train_points is None:
        train_points = (crop[0] // 16) * (crop[1] // 16) if crop else 2048
        notes.append(
            f'{train_points} training points per image = cells of a '
            'stride-16 map of the crop'
            if crop
            else '2048 training points per image (no crop_size found)'
        )
    loss = cfg.model.decode_head.get('loss_decode')
    if not (isinstance(loss, dict) and loss.get('type') == 'CrossEntropyLoss'):
        notes.append(
            'point loss: cross entropy (the base loss is not a single '
            'CrossEntropyLoss)'
        )
        loss = dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0
        )
    point_head = dict(
        type='mmpointrend.PointRendSemSegHead',
        in_channels=[lv.channels for lv in fine],
        in_index=[lv.index for lv in fine],
        channels=256,
        num_fcs=3,
        coarse_pred_each_layer=True,
        num_classes=head.num_classes,
        align_corners=bool(head.align_corners),
        point_sampler=dict(
            type='mmpointrend.UncertaintyPointSampler',
            num_points=int(train_points),
            oversample_ratio=3,
            importance_sample_ratio=0.75,
        ),
        loss_decode=_plain(loss),
    )
    delta = dict(
        type='mmpointrend.PointRendEncoderDecoder',
        decode_head=[COARSE_HEAD, point_head],
        test_cfg=dict(
            subdivision_steps=int(steps),
            subdivision_num_points=int(num_points or SEMANTIC_NUM_POINTS),
            scale_factor=2,
        ),
    )
    return PointRendified(cfg, delta, probe, notes)


def _plain(obj: Any) -> Any:
    """ConfigDicts and tuples as plain dicts and lists (for the text)."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _instance(
    cfg: Config,
    size: tuple,
    fine_levels: Sequence[int] | None,
    steps: int | None,
    num_points: int | None,
) -> PointRendified:
    import torch
    from mmdet.models.roi_heads import CascadeRoIHead, StandardRoIHead

    net = _build(cfg)
    roi_head = getattr(net, 'roi_head', None)
    kind = type(roi_head)
    if kind not in (StandardRoIHead, CascadeRoIHead):
        raise PointRendifyError(
            f'RoI head {kind.__name__} is not supported: PointRend replaces '
            "the mask branch of mmdet's StandardRoIHead (Mask R-CNN) and "
            'CascadeRoIHead (Cascade Mask R-CNN); HTC, SCNet, Mask Scoring '
            'and other mask branches interleave with theirs'
        )
    if not roi_head.with_mask:
        raise PointRendifyError(
            'the detector has no mask head: PointRend refines masks (add a '
            'mask_head and mask_roi_extractor first, e.g. start from a Mask '
            'R-CNN config)'
        )
    feats = _forward(net.extract_feat, size, 'backbone/neck')
    levels = _levels(feats, size, 'backbone/neck')
    fine = _fine(levels, fine_levels, 'backbone/neck')
    if fine[0].index != 0:
        raise PointRendifyError(
            f'the first fine level must be level 0 (the grid RoI extractor '
            f'reads the first levels), got {[lv.index for lv in fine]}'
        )
    mask_head = roi_head.mask_head
    if isinstance(mask_head, torch.nn.ModuleList):  # a cascade's stages
        mask_head = mask_head[-1]
    num_classes = mask_head.num_classes
    cascade = kind is CascadeRoIHead
    probe = Probe(
        'instance', levels, num_classes, size, roi_head=kind.__name__
    )
    notes = [
        f'point head reads level(s) {[lv.index for lv in fine]} '
        f'(stride {fine[0].stride}); coarse head on a 14x14 grid of level 0',
    ]
    if cascade:
        notes.append(
            'cascade: one PointRend mask branch on the last stage (see '
            'PointRendCascadeRoIHead)'
        )
    channels = fine[0].channels
    head = dict(
        type=(
            'mmpointrend.PointRendCascadeRoIHead'
            if cascade
            else 'mmpointrend.PointRendMaskRoIHead'
        ),
        mask_roi_extractor=dict(
            _delete_=True,
            type='mmpointrend.GridRoIExtractor',
            featmap_strides=[fine[0].stride],
            output_size=14,
            out_channels=channels,
        ),
        mask_head=dict(
            _delete_=True,
            type='mmpointrend.PointRendCoarseMaskHead',
            num_classes=num_classes,
            in_channels=channels,
            conv_out_channels=256,
            num_fcs=2,
            fc_out_channels=1024,
        ),
        point_head=dict(
            type='mmpointrend.PointRendMaskPointHead',
            num_classes=num_classes,
            in_channels=sum(lv.channels for lv in fine),
            fc_channels=256,
            num_fcs=3,
            coarse_pred_each_layer=True,
            point_sampler=dict(
                type='mmpointrend.UncertaintyPointSampler',
                num_points=14 * 14,
                oversample_ratio=3,
                importance_sample_ratio=0.75,
            ),
        ),
        fine_feat_index=[lv.index for lv in fine],
        fine_feat_strides=[lv.stride for lv in fine],
    )
    delta: dict = dict(roi_head=head)
    rcnn = {}
    if steps is not None:
        rcnn['subdivision_steps'] = int(steps)
    if num_points is not None:
        rcnn['subdivision_num_points'] = int(num_points)
    if rcnn:
        delta['test_cfg'] = dict(rcnn=rcnn)
    return PointRendified(cfg, delta, probe, notes)


def base_reference(base: str, out: str) -> str:
    """How a config written at ``out`` names ``base`` in ``_base_``.

    Args:
        base (str): The base as the user gave it (``pkg::path`` or a path).
        out (str): Where the new config is written.

    Returns:
        str: ``pkg::path`` unchanged; a file path relative to ``out``'s
        folder.
    """
    if '::' in base:
        return base
    return osp.relpath(osp.abspath(base), osp.dirname(osp.abspath(out)))
