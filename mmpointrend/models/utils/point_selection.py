"""Choosing where PointRend predicts: uncertainty measures and point samplers.

Uncertainty scores are "higher = less certain" so both the training sampler
and the inference selector take a top-k.

Shape shorthand: ``B`` images or RoIs, ``K`` channels, ``P`` points.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from mmpointrend.registry import TASK_UTILS

from .point_features import point_sample
from .profiling import region

#: Maps (B, K, ...) logits to (B, ...) scores, higher meaning less certain.
UncertaintyFn = Callable[[Tensor], Tensor]


def top2_logit_gap(logits: Tensor) -> Tensor:
    """Multi-class uncertainty: second-best minus best logit.

    The paper speaks of class probabilities; like detectron2 and mmseg we rank
    by the logit gap (the two orders can differ for K >= 3).

    Args:
        logits (Tensor): (B, K, ...) logits with ``K >= 2``.

    Returns:
        Tensor: (B, ...) scores ``<= 0``; ``0`` means a tie between the two
        best classes. Detached: scores only select points.
    """
    logits = logits.detach()
    num_classes = logits.shape[1]
    if num_classes < 2:
        raise ValueError(
            'top2_logit_gap needs at least 2 class channels, got '
            f'{num_classes}; use neg_abs_logit for 1-channel (sigmoid) '
            'predictions'
        )
    # A running (best, second best) over the channels gives exactly the
    # values of topk(2, dim=1), ties included (a tie makes second == best),
    # in a few in-place elementwise passes: on a 19 x 1024 x 2048 map this is
    # several times faster than topk and allocates no index tensor.
    first = torch.maximum(logits[:, 0], logits[:, 1])
    second = torch.minimum(logits[:, 0], logits[:, 1])
    scratch = torch.empty_like(first)
    for c in range(2, num_classes):
        channel = logits[:, c]
        torch.minimum(first, channel, out=scratch)
        torch.maximum(second, scratch, out=second)
        torch.maximum(first, channel, out=first)
    return second.sub_(first)


def neg_abs_logit(logits: Tensor, classes: Tensor | None = None) -> Tensor:
    """Binary / instance uncertainty: ``-|logit|`` of one class channel.

    ``|sigmoid(l) - 0.5|`` is monotonic in ``|l|``, so this ranks points like
    the paper's probability-based definition.

    Args:
        logits (Tensor): (B, K, ...) logits.
        classes (Tensor, optional): (B,) channel to score per row. Required
            when ``K > 1``; ignored for ``K == 1``.

    Returns:
        Tensor: (B, ...) scores ``<= 0``.
    """
    if logits.shape[1] == 1:
        chosen = logits[:, 0]
    else:
        if classes is None:
            raise ValueError(
                f'neg_abs_logit got {logits.shape[1]} channels but no '
                'classes to pick one per row'
            )
        rows = torch.arange(logits.shape[0], device=logits.device)
        chosen = logits[rows, classes.long()]
    return -chosen.abs()


def semantic_uncertainty(logits: Tensor) -> Tensor:
    """Top-2 logit gap for K >= 2 channels, ``-|logit|`` for one (sigmoid).

    Args:
        logits (Tensor): (B, K, ...) logits.

    Returns:
        Tensor: (B, ...) scores, higher = less certain.
    """
    if logits.shape[1] == 1:
        return neg_abs_logit(logits)
    return top2_logit_gap(logits)


@TASK_UTILS.register_module()
class LogitUncertainty:
    """PointRend's uncertainty measure, as a configurable component.

    ``-|logit|`` of one channel (sigmoid predictions, and instance masks,
    where ``classes`` names each row's channel), the top-2 logit gap for
    ``K >= 2`` softmax channels. Every head reads its uncertainty from one
    of these (``uncertainty=dict(type='mmpointrend.LogitUncertainty')``,
    the default), for training-point sampling and for rendering alike; a
    replacement is any registered callable with the same signature.
    """

    def __call__(
        self, logits: Tensor, classes: Tensor | None = None
    ) -> Tensor:
        """Scores of logits, higher = less certain.

        Args:
            logits (Tensor): (B, K, ...) logits.
            classes (Tensor, optional): (B,) the channel to score per row
                (instance masks); None scores all channels (semantic).

        Returns:
            Tensor: (B, ...) scores.
        """
        if classes is not None or logits.shape[1] == 1:
            return neg_abs_logit(logits, classes)
        return top2_logit_gap(logits)

    def __repr__(self) -> str:
        return f'{type(self).__name__}()'


@TASK_UTILS.register_module()
class UncertaintyPointSampler:
    """Training-time point selection of PointRend (paper section 3.1).

    Draws ``k * N`` uniform points, ranks them by the uncertainty of the
    *interpolated* coarse logits, keeps the ``beta * N`` most uncertain and
    fills the rest with fresh uniform points.

    Args:
        num_points (int): Points per image or RoI, ``N``.
        oversample_ratio (float): Over-generation factor ``k >= 1``.
            Defaults to 3.
        importance_sample_ratio (float): Fraction ``beta`` in ``[0, 1]`` of
            points chosen by uncertainty. Defaults to 0.75.
    """

    def __init__(
        self,
        num_points: int,
        oversample_ratio: float = 3.0,
        importance_sample_ratio: float = 0.75,
    ) -> None:
        if not isinstance(num_points, int) or num_points <= 0:
            raise ValueError(
                f'num_points must be a positive int, got {num_points!r}; '
                'set e.g. num_points=2048 in the point_sampler config'
            )
        if oversample_ratio < 1:
            raise ValueError(
                f'oversample_ratio (k) must be >= 1, got {oversample_ratio}'
            )
        if not 0 <= importance_sample_ratio <= 1:
            raise ValueError(
                'importance_sample_ratio (beta) must lie in [0, 1], got '
                f'{importance_sample_ratio}'
            )
        self.num_points = num_points
        self.oversample_ratio = oversample_ratio
        self.importance_sample_ratio = importance_sample_ratio
        # int() truncates like all public implementations: 0.75 * 196 -> 147.
        self.num_candidates = int(oversample_ratio * num_points)
        self.num_uncertain = int(importance_sample_ratio * num_points)

    def __repr__(self) -> str:
        return (
            f'{type(self).__name__}(num_points={self.num_points}, '
            f'oversample_ratio={self.oversample_ratio}, '
            f'importance_sample_ratio={self.importance_sample_ratio})'
        )

    @torch.no_grad()
    def sample(
        self, coarse_logits: Tensor, uncertainty: UncertaintyFn
    ) -> Tensor:
        """Select training points.

        Args:
            coarse_logits (Tensor): (B, K, H, W) coarse prediction.
            uncertainty (UncertaintyFn): Maps (B, K, P) point logits to (B, P)
                scores, higher = less certain.

        Returns:
            Tensor: (B, N, 2) normalized ``(x, y)`` points; the first
            ``int(beta * N)`` are the uncertain ones.
        """
        with region('point sampler'):
            return self._sample(coarse_logits, uncertainty)

    def _sample(
        self, coarse_logits: Tensor, uncertainty: UncertaintyFn
    ) -> Tensor:
        batch = coarse_logits.shape[0]
        device = coarse_logits.device
        candidates = torch.rand(batch, self.num_candidates, 2, device=device)
        # Rank by the uncertainty of the *interpolated* logits, not by
        # interpolated uncertainty: halfway between logits -2 and +2 the
        # prediction is 0 (maximally unsure) while both ends are confident.
        scores = uncertainty(point_sample(coarse_logits, candidates))
        idx = scores.topk(self.num_uncertain, dim=1).indices
        chosen = torch.gather(
            candidates, 1, idx.unsqueeze(-1).expand(-1, -1, 2)
        )
        num_random = self.num_points - self.num_uncertain
        if num_random > 0:
            fill = torch.rand(batch, num_random, 2, device=device)
            chosen = torch.cat((chosen, fill), dim=1)
        return chosen


def topk_cells(scores: Tensor, num_points: int) -> Tensor:
    """Flat indices of the ``num_points`` highest-scoring cells.

    Large maps go through :func:`blocked_topk` (the same values, found
    several times faster); exported graphs keep a plain ``topk``.

    Args:
        scores (Tensor): (B, H * W) per-cell uncertainty.
        num_points (int): How many cells to return; clipped to ``H * W``.

    Returns:
        Tensor: (B, min(num_points, H * W)) flat indices, ascending: the
        point features are then read walking forward through each map
        (about 1.3x faster ``grid_sample`` than in score order on a
        256-channel 256x512 map).
    """
    num_points = min(num_points, scores.shape[1])
    if torch.compiler.is_exporting() or torch.jit.is_tracing():
        idx = scores.topk(num_points, dim=1, sorted=False).indices
    else:
        idx = blocked_topk(scores, num_points)
    return idx.sort(dim=1).values


#: Largest group of :func:`blocked_topk`, and how many groups per selected
#: point it needs at least (below that a plain ``topk`` is as fast).
MAX_GROUP = 16
MIN_GROUPS_PER_POINT = 4


def blocked_topk(scores: Tensor, k: int) -> Tensor:
    """Indices of ``k`` highest scores per row, ranking group maxima first.

    The row's ``n`` cells are dealt into ``g = n / b`` groups of ``b``
    (cell ``i`` into group ``i mod g``: the maxima are then an elementwise
    maximum of ``b`` contiguous slices). The ``k`` groups with the highest
    maxima hold every one of the row's top ``k`` cells: a group left out
    has ``k`` groups above it, each with a distinct cell at least its
    maximum. So a ``topk`` over those ``k * b`` cells finds them, and two
    ``topk`` over ``n / b`` and ``k * b`` values replace one over ``n``
    (on the 2M cells of a 1024x2048 map with ``k = 8192``, about 10x
    faster on one CPU thread). The selected values are exactly those of
    ``scores.topk(k)``; among cells that tie with the ``k``-th value either
    may pick a different one, as ``topk`` itself does not define which.

    Args:
        scores (Tensor): (B, n) scores.
        k (int): How many per row, ``1 <= k <= n``.

    Returns:
        Tensor: (B, k) indices into the rows, in no particular order.
    """
    n = scores.shape[1]
    # the largest power-of-two group that divides n and leaves enough groups
    size = MAX_GROUP
    while size > 1 and (n % size or n // size < MIN_GROUPS_PER_POINT * k):
        size //= 2
    if size == 1:
        return scores.topk(k, dim=1, sorted=False).indices
    groups = n // size
    maxima = scores.reshape(scores.shape[0], size, groups).amax(dim=1)
    top_groups = maxima.topk(k, dim=1, sorted=False).indices
    # (B, size * k) cells of the chosen groups, as indices into the row
    members = torch.arange(0, n, groups, device=scores.device)
    cells = (top_groups.unsqueeze(1) + members.view(1, size, 1)).flatten(1)
    chosen = scores.gather(1, cells).topk(k, dim=1, sorted=False).indices
    return cells.gather(1, chosen)
