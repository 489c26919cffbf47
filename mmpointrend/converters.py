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
    out: OrderedDict = OrderedDict()
    renamed = []
    for key, value in state_dict.items():
        new = key
        for pattern, repl in _MMSEG_SEMANTIC_RULES:
            new = pattern.sub(repl, new)
        if new != key:
            renamed.append((key, new))
        out[new] = value
    return out, renamed
