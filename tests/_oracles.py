"""Portable comparison of two renderers across a top-k point selection.

Two correct implementations of subdivision agree only up to float rounding,
and rounding differs between CPUs (Intel and AMD BLAS kernels sum in
different orders). Where two cells' uncertainties are nearly tied at the
top-k boundary, rounding decides which one is refined, so exact equality of
the rendered maps is not a property either implementation has. What is
defined, and checked here:

* a cell whose uncertainty is clearly inside or outside the top-k (gap to
  the k-th score above ``score_tol``) is selected by both, so both give it
  the same value (within ``value_tol``);
* cells may differ only where the selection is tied, so the number of
  differing cells is bounded by the number of tied cells.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: Rounding differences of the compared values, relative to the larger of
#: 1 and the largest magnitude in the reference map (fp32 after a few
#: hundred-term dot products).
VALUE_TOL = 1e-5
#: Uncertainty gap, on the same scale, that rounding cannot bridge (values
#: differ by <= VALUE_TOL and bilinear upsampling is a convex combination):
#: ten times the value tolerance.
SCORE_TOL = 1e-4


def _scale(ref: Tensor) -> float:
    return max(1.0, float(ref.abs().max())) if ref.numel() else 1.0


def tied_cells(scores: Tensor, num_points: int, tol: float = SCORE_TOL):
    """Cells whose selection in a top-k could go either way.

    Args:
        scores (Tensor): (B, H, W) uncertainties, higher = selected first.
        num_points (int): ``k`` of the top-k.
        tol (float): Absolute gap to the k-th score under which a cell is
            tied.

    Returns:
        Tensor: (B, H, W) bool.
    """
    flat = scores.flatten(1)
    kth = flat.topk(min(num_points, flat.shape[1]), dim=1).values[:, -1:]
    return ((flat - kth).abs() <= tol).view_as(scores)


def differing_cells(ours: Tensor, ref: Tensor, tol: float = VALUE_TOL):
    """Cells where any channel differs by more than ``tol`` (relative).

    Args:
        ours (Tensor): (B, K, H, W) values.
        ref (Tensor): (B, K, H, W) reference values.
        tol (float): Tolerance relative to ``max(1, max |ref|)``.

    Returns:
        Tensor: (B, H, W) bool.
    """
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    return ((ours - ref).abs() > tol * _scale(ref)).any(dim=1)


def assert_only_tie_flips(
    ours: Tensor, ref: Tensor, scores: Tensor, num_points: int
) -> Tensor:
    """Assert that two refined maps differ only at tied cells.

    Args:
        ours (Tensor): (B, K, H, W) map after a top-k refinement step.
        ref (Tensor): (B, K, H, W) the reference's map after the same step.
        scores (Tensor): (B, H, W) the uncertainties that step ranked
            (computed from ``ours``'s previous map).
        num_points (int): ``k``.

    Returns:
        Tensor: (B,) bool, True where the sample differs at some tied cell
        (its selection flipped).
    """
    diff = differing_cells(ours, ref)
    tied = tied_cells(scores, num_points, SCORE_TOL * _scale(ref))
    untied = diff & ~tied
    assert not untied.any(), (
        f'{int(untied.sum())} cells differ although their selection was '
        f'decided (max |diff| there '
        f'{(ours - ref).abs().amax(dim=1)[untied].max().item():.3g})'
    )
    assert int(diff.sum()) <= int(tied.sum())
    return diff.flatten(1).any(dim=1)


def upsample(logits: Tensor, factor: int = 2) -> Tensor:
    """The renderer's upsampling (bilinear, ``align_corners=False``).

    Args:
        logits (Tensor): (B, K, H, W).
        factor (int): Scale factor. Defaults to 2.

    Returns:
        Tensor: (B, K, factor * H, factor * W).
    """
    return torch.nn.functional.interpolate(
        logits, scale_factor=factor, mode='bilinear', align_corners=False
    )
