"""Count the compute of mask heads per RoI (the paper's Table 2).

``python tools/analysis/get_flops.py`` prints the table.

Multiply-adds and output activations are counted by MMEngine's trace-based
analyzers (one multiply-add = one "flop", the fvcore convention) on a single
RoI, so the numbers describe the mask branch alone: RoI feature reading and
point sampling (``grid_sample``) are not multiply-adds of a layer and are
not counted, as in the paper.
"""

from __future__ import annotations

import torch
from mmengine.analysis import ActivationAnalyzer, FlopAnalyzer
from torch import Tensor, nn

#: The paper's Table 2 (COCO, K = 80): multiply-adds and activations per
#: RoI.
PAPER_TABLE2 = {
    '4x conv, 28x28': (0.5e9, 0.5e6),
    'PointRend, 224x224': (0.9e9, 0.7e6),
    '4x conv, 224x224': (34e9, 33e6),
}


class _PointRendMaskBranch(nn.Module):
    """Coarse head + subdivision of one RoI head, as a traceable module."""

    def __init__(self, roi_head: nn.Module) -> None:
        super().__init__()
        self.roi_head = roi_head

    def forward(self, p2: Tensor, rois: Tensor, labels: Tensor) -> Tensor:
        return self.roi_head.refine_masks((p2,), rois, labels)[1]


def count_macs(module: nn.Module, inputs: tuple[Tensor, ...]) -> int:
    """Multiply-adds of ``module(*inputs)``: the project's one counter.

    MMEngine's trace-based analyzer, which knows ``aten::addmm`` but not its
    in-place form: :class:`PointMLP` adds the coarse block of each layer
    with ``addmm_`` (see ``PointMLP._affine``), so the in-place op gets the
    same rule here; without it a third of the point MLP went uncounted.

    Args:
        module (nn.Module): Module to analyse (put in eval mode).
        inputs (tuple[Tensor, ...]): Its positional inputs.

    Returns:
        int: Total multiply-adds.
    """
    return int(_flop_analyzer(module.eval(), inputs).total())


def _flop_analyzer(module: nn.Module, inputs: tuple) -> FlopAnalyzer:
    from mmengine.analysis.jit_handles import addmm_flop_jit

    with torch.no_grad():
        flops = FlopAnalyzer(module, inputs)
        flops.set_op_handle('aten::addmm_', addmm_flop_jit)
        flops.unsupported_ops_warnings(False)
        flops.uncalled_modules_warnings(False)
        flops.total()  # trace now, under no_grad
    return flops


def count_mask_head_cost(
    module: nn.Module, inputs: tuple[Tensor, ...]
) -> tuple[int, int]:
    """Multiply-adds and activations of ``module(*inputs)``.

    Args:
        module (nn.Module): Module to analyse (put in eval mode).
        inputs (tuple[Tensor, ...]): Its positional inputs.

    Returns:
        tuple[int, int]: Total multiply-adds and output activations.
    """
    module = module.eval()
    macs = count_macs(module, inputs)
    with torch.no_grad():
        acts = ActivationAnalyzer(module, inputs)
        acts.unsupported_ops_warnings(False)
        acts.uncalled_modules_warnings(False)
        return macs, int(acts.total())


def _conv_mask_head(num_classes: int) -> nn.Module:
    from mmdet.models.roi_heads.mask_heads import FCNMaskHead

    return FCNMaskHead(
        num_convs=4,
        in_channels=256,
        conv_out_channels=256,
        num_classes=num_classes,
    )


def _pointrend_roi_head(num_classes: int) -> nn.Module:
    """A COCO-style PointRend RoI head (box branch unused here)."""
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope

    init_default_scope('mmdet')
    cfg = dict(
        type='mmpointrend.PointRendMaskRoIHead',
        bbox_roi_extractor=dict(
            type='SingleRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0),
            out_channels=256,
            featmap_strides=[4, 8, 16, 32],
        ),
        bbox_head=dict(type='Shared2FCBBoxHead', num_classes=num_classes),
        mask_roi_extractor=dict(type='mmpointrend.GridRoIExtractor'),
        mask_head=dict(
            type='mmpointrend.PointRendCoarseMaskHead', num_classes=num_classes
        ),
        # The GEMM path adds the coarse logits' contribution with an
        # in-place addmm_, an op the trace analyzer does not count; the
        # Conv1d path does the same multiply-adds as counted convolutions.
        point_head=dict(
            type='mmpointrend.PointRendMaskPointHead',
            num_classes=num_classes,
            use_gemm=False,
        ),
    )
    return MODELS.build(cfg)


def mask_head_costs(num_classes: int = 80) -> dict[str, tuple[int, int]]:
    """Per-RoI multiply-adds and activations of the paper's three heads.

    Args:
        num_classes (int): ``K``. Defaults to 80 (COCO).

    Returns:
        dict: Name -> (multiply-adds, activations).
    """
    torch.manual_seed(0)
    conv = _conv_mask_head(num_classes)
    costs = {
        '4x conv, 28x28': count_mask_head_cost(
            conv, (torch.randn(1, 256, 14, 14),)
        ),
        # 224x224 output: the same head on 112x112 RoI features.
        '4x conv, 224x224': count_mask_head_cost(
            conv, (torch.randn(1, 256, 112, 112),)
        ),
    }
    branch = _PointRendMaskBranch(_pointrend_roi_head(num_classes))
    p2 = torch.randn(1, 256, 64, 64)
    rois = torch.tensor([[0.0, 16.0, 16.0, 200.0, 180.0]])
    costs['PointRend, 224x224'] = count_mask_head_cost(
        branch, (p2, rois, torch.tensor([3]))
    )
    return costs


def mask_head_cost_table(num_classes: int = 80) -> str:
    """Markdown table of :func:`mask_head_costs` next to the paper's values.

    Args:
        num_classes (int): ``K``. Defaults to 80.

    Returns:
        str: The table.
    """
    costs = mask_head_costs(num_classes)
    lines = [
        '| mask head | output | multiply-adds / RoI (counted) | paper | '
        'activations / RoI (counted) | paper |',
        '|---|---|---|---|---|---|',
    ]
    for name in ('4x conv, 28x28', 'PointRend, 224x224', '4x conv, 224x224'):
        flops, acts = costs[name]
        paper_flops, paper_acts = PAPER_TABLE2[name]
        head, size = name.split(', ')
        lines.append(
            f'| {head} | {size} | {flops / 1e9:.2f} B | '
            f'{paper_flops / 1e9:.1f} B | {acts / 1e6:.2f} M | '
            f'{paper_acts / 1e6:.1f} M |'
        )
    return '\n'.join(lines) + '\n'
