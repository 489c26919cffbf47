"""State-dict key mappings from other PointRend implementations."""

from __future__ import annotations

import re
from collections import OrderedDict

from torch import Tensor

#: mmseg ``PointHead`` (stage 1 of ``CascadeEncoderDecoder``) ->
#: :class:`~mmpointrend.models.PointRendSemSegHead`.
_MMSEG_SEMANTIC_RULES = (
    (
        re.compile(r'^decode_head\.1\.fcs\.(\d+)\.conv\.'),
        r'decode_head.1.mlp.fcs.\1.',
    ),
    (re.compile(r'^decode_head\.1\.fc_seg\.'), 'decode_head.1.mlp.predictor.'),
)


def convert_mmseg_pointrend(
    state_dict: dict[str, Tensor],
) -> tuple[OrderedDict, list[tuple[str, str]]]:
    """Rename an mmseg PointRend state dict to mmpointrend's keys.

    Backbone, neck and coarse-head keys are shared and kept; only the point
    head's layers move under ``decode_head.1.mlp``.

    Args:
        state_dict (dict[str, Tensor]): mmseg ``CascadeEncoderDecoder`` +
            ``PointHead`` weights.

    Returns:
        tuple: The converted state dict and the list of ``(old, new)``
        renamed keys.
    """
    if not any(k.startswith('decode_head.1.') for k in state_dict):
        raise ValueError(
            'no decode_head.1.* keys: this is not an mmseg PointRend '
            '(CascadeEncoderDecoder + PointHead) checkpoint'
        )
    return _apply_rules(state_dict, _MMSEG_SEMANTIC_RULES)


#: mmdet ``PointRendRoIHead`` (CoarseMaskHead + MaskPointHead) ->
#: :class:`~mmpointrend.models.PointRendMaskRoIHead`.
_MMDET_INSTANCE_RULES = (
    (
        re.compile(r'^roi_head\.mask_head\.downsample_conv\.conv\.'),
        'roi_head.mask_head.downsample_conv.',
    ),
    (
        re.compile(r'^roi_head\.point_head\.fcs\.(\d+)\.conv\.'),
        r'roi_head.point_head.mlp.fcs.\1.',
    ),
    (
        re.compile(r'^roi_head\.point_head\.fc_logits\.'),
        'roi_head.point_head.mlp.predictor.',
    ),
)


def _apply_rules(
    state_dict: dict[str, Tensor], rules
) -> tuple[OrderedDict, list[tuple[str, str]]]:
    out: OrderedDict = OrderedDict()
    renamed = []
    for key, value in state_dict.items():
        new = key
        for pattern, repl in rules:
            new = pattern.sub(repl, new)
        if new != key:
            renamed.append((key, new))
        out[new] = value
    return out, renamed


def convert_mmdet_pointrend(
    state_dict: dict[str, Tensor],
) -> tuple[OrderedDict, list[tuple[str, str]]]:
    """Rename an mmdet 3.x PointRend state dict to mmpointrend's keys.

    Args:
        state_dict (dict[str, Tensor]): mmdet ``PointRend`` weights.

    Returns:
        tuple: The converted state dict and the renamed ``(old, new)`` keys.
    """
    if not any(k.startswith('roi_head.point_head.') for k in state_dict):
        raise ValueError(
            'no roi_head.point_head.* keys: this is not an mmdet PointRend '
            'checkpoint'
        )
    return _apply_rules(state_dict, _MMDET_INSTANCE_RULES)


def _d2_resnet_key(parts: list[str]) -> str | None:
    """Map ``backbone.bottom_up.*`` name parts to mmdet ResNet names."""
    if parts[0] == 'stem':
        layer = 'conv1' if parts[2] != 'norm' else 'bn1'
        return f'backbone.{layer}.{parts[-1]}'
    match = re.fullmatch(r'res(\d)', parts[0])
    if match is None:
        return None
    prefix = f'backbone.layer{int(match.group(1)) - 1}.{parts[1]}'
    if parts[2] == 'shortcut':
        sub = 'downsample.1' if parts[3] == 'norm' else 'downsample.0'
        return f'{prefix}.{sub}.{parts[-1]}'
    conv = parts[2]  # conv1 / conv2 / conv3
    if parts[3] == 'norm':
        return f'{prefix}.bn{conv[-1]}.{parts[-1]}'
    return f'{prefix}.{conv}.{parts[-1]}'


_D2_FIXED = {
    'proposal_generator.rpn_head.conv': 'rpn_head.rpn_conv',
    'proposal_generator.rpn_head.objectness_logits': 'rpn_head.rpn_cls',
    'proposal_generator.rpn_head.anchor_deltas': 'rpn_head.rpn_reg',
    'roi_heads.box_head.fc1': 'roi_head.bbox_head.shared_fcs.0',
    'roi_heads.box_head.fc2': 'roi_head.bbox_head.shared_fcs.1',
    'roi_heads.box_predictor.cls_score': 'roi_head.bbox_head.fc_cls',
    'roi_heads.box_predictor.bbox_pred': 'roi_head.bbox_head.fc_reg',
    'roi_heads.mask_head.coarse_head.reduce_spatial_dim_conv': (
        'roi_head.mask_head.downsample_conv'
    ),
    'roi_heads.mask_head.coarse_head.fc1': 'roi_head.mask_head.fcs.0',
    'roi_heads.mask_head.coarse_head.fc2': 'roi_head.mask_head.fcs.1',
    'roi_heads.mask_head.coarse_head.prediction': (
        'roi_head.mask_head.fc_logits'
    ),
    'roi_heads.mask_head.point_head.fc1': 'roi_head.point_head.mlp.fcs.0',
    'roi_heads.mask_head.point_head.fc2': 'roi_head.point_head.mlp.fcs.1',
    'roi_heads.mask_head.point_head.fc3': 'roi_head.point_head.mlp.fcs.2',
    'roi_heads.mask_head.point_head.predictor': (
        'roi_head.point_head.mlp.predictor'
    ),
}


def _d2_semantic_key(name: str) -> str | None:
    """Map a detectron2 ``PointRendSemSegHead`` weight to mmseg/our names.

    detectron2's ``SemSegFPNHead`` registers one ``nn.Sequential`` per
    level (``p2``..``p5``) of [conv(+GN), upsample, conv(+GN), ...];
    mmseg's ``FPNHead.scale_heads[i]`` interleaves ``ConvModule`` and
    ``Upsample`` the same way, so the index inside the level carries over
    unchanged.
    """
    match = re.fullmatch(
        r'sem_seg_head\.coarse_sem_seg_head\.p(\d)\.(\d+)\.'
        r'(weight|bias|norm\.weight|norm\.bias)',
        name,
    )
    if match:
        level, index, param = match.groups()
        param = (
            param.replace('norm.', 'gn.')
            if 'norm' in param
            else (f'conv.{param}')
        )
        return f'decode_head.0.scale_heads.{int(level) - 2}.{index}.{param}'
    match = re.fullmatch(
        r'sem_seg_head\.(coarse_sem_seg_head\.predictor|point_head\.fc(\d)|'
        r'point_head\.predictor)\.(weight|bias)',
        name,
    )
    if match is None:
        return None
    module, fc, param = match.groups()
    if module.endswith('coarse_sem_seg_head.predictor'):
        return f'decode_head.0.conv_seg.{param}'
    if fc is not None:
        return f'decode_head.1.mlp.fcs.{int(fc) - 1}.{param}'
    return f'decode_head.1.mlp.predictor.{param}'


#: detectron2 renamed its PointRend mask-head weights on 2020-11-13 (models
#: ``model_final_88c6f8``/``3c3198``/``318a02`` and earlier use the old names).
_D2_OLD_NAMES = (
    ('roi_heads.mask_coarse_head.', 'roi_heads.mask_head.coarse_head.'),
    ('roi_heads.mask_point_head.', 'roi_heads.mask_head.point_head.'),
)


def _d2_current_name(name: str) -> str:
    """A pre-Nov-2020 detectron2 PointRend weight name in today's layout.

    Args:
        name (str): detectron2 weight name.

    Returns:
        str: The name in the current layout (unchanged if already current).
    """
    for old, new in _D2_OLD_NAMES:
        if name.startswith(old):
            name = new + name[len(old) :]
            # the coarse head's FCs were called coarse_mask_fc1/2
            name = re.sub(r'\.coarse_mask_fc(\d)\.', r'.fc\1.', name)
    return name


def convert_detectron2_pointrend(
    weights: dict,
) -> tuple[OrderedDict, list[str]]:
    """Convert a detectron2 PointRend model (R-CNN or semantic) to our keys.

    Covers the backbone (caffe-style ResNet/ResNeXt with frozen BN), FPN,
    RPN, box head, coarse mask head and point head of detectron2's instance
    model-zoo pickles, whose target is mmdet's Mask R-CNN (caffe ResNet, FPN)
    with :class:`~mmpointrend.models.PointRendMaskRoIHead`; and the
    ``SemSegFPNHead`` + point head of its semantic model, whose target is
    ``configs/sem_fpn/pointrend_fpn_r101-caffe_gn-head_*`` (mmseg ResNet and
    FPN, ``FPNHead`` with GroupNorm, :class:`PointRendSemSegHead`).
    detectron2's frozen BN layers store ``weight``, ``bias``,
    ``running_mean`` and ``running_var`` like mmdet's BN, so they map one
    to one. Class order
    (background last) and box-delta layout are the same in both libraries.

    Args:
        weights (dict): ``name -> array`` (the ``'model'`` entry of the
            pickle).

    Returns:
        tuple: The state dict (tensors) and the detectron2 names that had no
        counterpart (e.g. ``pixel_mean``); an unknown name in the network
        itself raises instead.
    """
    import numpy as np
    import torch

    out: OrderedDict = OrderedDict()
    skipped = []
    for old_name, value in weights.items():
        name = _d2_current_name(old_name)
        tensor = torch.as_tensor(np.asarray(value))
        new = None
        if name.startswith('backbone.bottom_up.'):
            new = _d2_resnet_key(name.split('.')[2:])
        elif name.startswith('backbone.fpn_'):
            match = re.fullmatch(
                r'backbone\.fpn_(lateral|output)(\d)\.(weight|bias)', name
            )
            if match:
                kind, level, param = match.groups()
                module = 'lateral_convs' if kind == 'lateral' else 'fpn_convs'
                new = f'neck.{module}.{int(level) - 2}.conv.{param}'
        elif name.startswith('sem_seg_head.'):
            new = _d2_semantic_key(name)
        else:
            stem, _, param = name.rpartition('.')
            if stem in _D2_FIXED:
                new = f'{_D2_FIXED[stem]}.{param}'
        if new is None:
            if name in ('pixel_mean', 'pixel_std') or 'num_batches' in name:
                skipped.append(name)
                continue
            raise KeyError(
                f'no mmpointrend counterpart for detectron2 weight {name!r}; '
                'only PointRend R-CNN and SemanticFPN checkpoints are '
                'supported'
            )
        out[new] = tensor
    return out, skipped


def detect_layout(checkpoint: object) -> str | None:
    """Which implementation wrote a PointRend checkpoint, from its keys.

    Args:
        checkpoint (object): A loaded checkpoint.

    Returns:
        str | None: ``'detectron2'``, ``'mmseg'``, ``'mmdet'``, or None for
        mmpointrend's own layout (or anything unrecognised).
    """
    if not isinstance(checkpoint, dict):
        return None
    model = checkpoint.get('model')
    if isinstance(model, dict) and any(
        k.startswith(('backbone.bottom_up.', 'roi_heads.')) for k in model
    ):
        return 'detectron2'
    state = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state, dict):
        return None
    keys = list(state)
    if any(
        k.startswith(('decode_head.1.fcs.', 'decode_head.1.fc_seg.'))
        for k in keys
    ):
        return 'mmseg'
    if any(
        k.startswith(
            ('roi_head.point_head.fcs.', 'roi_head.point_head.fc_logits.')
        )
        for k in keys
    ):
        return 'mmdet'
    return None


def convert_foreign_checkpoint(checkpoint: object, source: str) -> object:
    """Convert an mmseg, mmdet or detectron2 PointRend checkpoint in memory.

    The layout is detected from the keys (:func:`detect_layout`); the
    conversion is logged. A detectron2 weight that maps nowhere raises a
    KeyError naming it. Anything else is returned unchanged.

    Args:
        checkpoint (object): A loaded checkpoint.
        source (str): Its file name, for the log.

    Returns:
        object: ``{'state_dict': ..., 'meta': ...}`` in mmpointrend's layout,
        or ``checkpoint`` itself.
    """
    from mmengine.logging import print_log

    layout = detect_layout(checkpoint)
    if layout is None:
        return checkpoint
    meta = dict(checkpoint.get('meta') or {})
    if layout == 'detectron2':
        state, skipped = convert_detectron2_pointrend(checkpoint['model'])
        detail = f'{len(state)} tensors, skipped {skipped}'
    else:
        convert = (
            convert_mmseg_pointrend
            if layout == 'mmseg'
            else convert_mmdet_pointrend
        )
        state, renamed = convert(checkpoint.get('state_dict', checkpoint))
        detail = f'{len(renamed)} keys renamed'
    if layout == 'detectron2':
        meta.update(input_normalisation(checkpoint['model']))
    meta['converted_from'] = f'{layout}:{source}'
    print_log(
        f'{source}: converted from the {layout} PointRend layout ({detail})',
        logger='current',
    )
    return dict(state_dict=state, meta=meta)


def input_normalisation(weights: dict) -> dict:
    """The input normalisation a detectron2 model was trained with.

    detectron2 keeps ``pixel_mean``/``pixel_std`` as buffers of the model
    (shape (3, 1, 1), in the channel order of its input, BGR for every
    PointRend model in its zoo), not in the checkpoint's config; converting
    drops them from the weights, so they are kept in ``meta``.

    Args:
        weights (dict): detectron2 ``name -> array`` weights.

    Returns:
        dict: ``{'pixel_mean': [3 floats], 'pixel_std': [3 floats],
        'input_format': 'BGR'}``, or ``{}`` when the weights hold neither.
    """
    import numpy as np

    if 'pixel_mean' not in weights or 'pixel_std' not in weights:
        return {}
    return dict(
        pixel_mean=[
            float(v) for v in np.asarray(weights['pixel_mean']).ravel()
        ],
        pixel_std=[float(v) for v in np.asarray(weights['pixel_std']).ravel()],
        input_format='BGR',
    )


def normalisation_mismatch(meta: dict, model: object) -> str | None:
    """How a model's data preprocessor differs from a checkpoint's record.

    Compares ``meta``'s ``pixel_mean``/``pixel_std``/``input_format``
    (:func:`input_normalisation`) with the model's data preprocessor. Images
    are read as BGR by mmdet/mmseg pipelines, so the network sees RGB
    exactly when the preprocessor has ``bgr_to_rgb=True``.

    Args:
        meta (dict): A converted checkpoint's ``meta``.
        model (object): The model the weights go to (an MMEngine
            ``BaseModel``; anything without a data preprocessor passes).

    Returns:
        str | None: A sentence naming both normalisations, or None when
        they agree or either side does not say.
    """
    import torch

    preprocessor = getattr(model, 'data_preprocessor', None)
    mean = getattr(preprocessor, 'mean', None)
    std = getattr(preprocessor, 'std', None)
    if not meta.get('pixel_mean') or mean is None or std is None:
        return None
    theirs_mean = torch.tensor(meta['pixel_mean'], dtype=torch.float32)
    theirs_std = torch.tensor(meta['pixel_std'], dtype=torch.float32)
    # mmdet/MMEngine call the flag _channel_conversion, mmseg
    # channel_conversion; it is set by bgr_to_rgb (or rgb_to_bgr).
    converts = getattr(
        preprocessor,
        '_channel_conversion',
        getattr(preprocessor, 'channel_conversion', False),
    )
    ours_format = 'RGB' if converts else 'BGR'
    if (
        ours_format == meta.get('input_format', 'BGR')
        and torch.allclose(
            mean.flatten().float().cpu(), theirs_mean, atol=1e-3
        )
        and torch.allclose(std.flatten().float().cpu(), theirs_std, atol=1e-3)
    ):
        return None
    return (
        f'the weights were trained on {meta.get("input_format", "BGR")} '
        f'input normalised with mean {meta["pixel_mean"]} and std '
        f'{meta["pixel_std"]}, but this config feeds {ours_format} input '
        f'with mean {mean.flatten().tolist()} and std '
        f'{std.flatten().tolist()}: predictions will be off. Set '
        'model.data_preprocessor (mean, std, bgr_to_rgb) to match'
    )
