"""Adaptive subdivision: the inference-time renderer of PointRend.

One loop serves both tasks. The caller supplies a point predictor (the point
head reading fine-grained features and the *original* coarse logits at the
points) and an uncertainty measure; the renderer decides where to predict.

Shape shorthand: ``B`` images or RoIs, ``K`` channels, ``P`` points.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional

import torch.nn.functional as F
from torch import Tensor

from .point_features import cell_centers, regular_grid_points
from .point_selection import topk_cells
from .profiling import region

#: Maps (B, P, 2) normalized points to (B, K, P) refined logits.
PointPredictor = Callable[[Tensor], Tensor]
#: Maps a (B, K, H, W) map to (B, H, W) scores, higher = less certain.
MapUncertainty = Callable[[Tensor], Tensor]
#: Observer of each rendering step: (refined (B, K, H, W) logits, flat
#: indices (B, N) of the re-predicted cells, or None when every cell was).
StepObserver = Callable[[Tensor, Optional[Tensor]], None]


@dataclass(frozen=True)
class SubdivisionSettings:
    """Validated inference settings of the renderer, for both tasks.

    Config files spell them as ``test_cfg`` keys (``subdivision_steps``,
    ``subdivision_num_points``, ``scale_factor``, ``render_init_grid``);
    :meth:`from_cfg` reads those over a task's defaults and checks them.

    Args:
        steps (int): Subdivision steps, ``>= 0``.
        num_points (int): ``N``, points re-predicted per step, ``>= 1``.
        scale_factor (int): Upsampling per step, an int ``>= 2``.
        render_init_grid (bool): detectron2's instance start (see
            :func:`plan_subdivision`).
    """

    steps: int
    num_points: int
    scale_factor: int = 2
    render_init_grid: bool = False

    #: ``test_cfg`` key of each field.
    CFG_KEYS = (
        ('steps', 'subdivision_steps'),
        ('num_points', 'subdivision_num_points'),
        ('scale_factor', 'scale_factor'),
        ('render_init_grid', 'render_init_grid'),
    )

    def __post_init__(self) -> None:
        def bad(key: str, need: str, value: Any) -> ValueError:
            return ValueError(f'test_cfg.{key} must be {need}, got {value!r}')

        def is_int(value: Any) -> bool:
            return isinstance(value, int) and not isinstance(value, bool)

        if not is_int(self.steps) or self.steps < 0:
            raise bad('subdivision_steps', 'an int >= 0', self.steps)
        if not is_int(self.num_points) or self.num_points < 1:
            raise bad(
                'subdivision_num_points',
                'a positive int (e.g. 8192 = 64 x 128 for 1024x2048 images, '
                '784 = 28 x 28 per instance)',
                self.num_points,
            )
        if not is_int(self.scale_factor) or self.scale_factor < 2:
            raise bad(
                'scale_factor',
                'an int >= 2 (each step upsamples by it)',
                self.scale_factor,
            )
        if not isinstance(self.render_init_grid, bool):
            raise bad(
                'render_init_grid', 'True or False', self.render_init_grid
            )

    @classmethod
    def from_cfg(
        cls, cfg: Mapping | None, defaults: SubdivisionSettings
    ) -> SubdivisionSettings:
        """Settings from ``test_cfg`` keys, the rest from ``defaults``.

        Args:
            cfg (Mapping, optional): A ``test_cfg``; other keys are ignored.
            defaults (SubdivisionSettings): The task's defaults.

        Returns:
            SubdivisionSettings: Validated settings.
        """
        cfg = cfg or {}
        given = {field: cfg[key] for field, key in cls.CFG_KEYS if key in cfg}
        return replace(defaults, **given)

    def plan(self, coarse_size: tuple[int, int]) -> RenderPlan:
        """The render of a ``coarse_size`` map with these settings.

        Args:
            coarse_size (tuple[int, int]): ``(h, w)`` of the coarse logits.

        Returns:
            RenderPlan: Every step's grid and number of predicted points.
        """
        init_size, num_steps = plan_subdivision(
            tuple(coarse_size),
            self.steps,
            self.num_points,
            self.scale_factor,
            self.render_init_grid,
        )
        steps = []
        height, width = coarse_size
        if init_size is not None:
            height, width = init_size
            steps.append(RenderStep((height, width), height * width, True))
        for _ in range(num_steps):
            height, width = (
                height * self.scale_factor,
                width * self.scale_factor,
            )
            dense = height * width <= self.num_points
            points = height * width if dense else self.num_points
            steps.append(RenderStep((height, width), points, dense))
        return RenderPlan(tuple(coarse_size), tuple(steps), self.scale_factor)


@dataclass(frozen=True)
class RenderStep:
    """One step of a render.

    Args:
        size (tuple[int, int]): ``(H, W)`` of the map after the step.
        points (int): Cells the point head predicts in it (per image or
            RoI).
        dense (bool): Every cell is predicted (no upsampling or ranking).
    """

    size: tuple[int, int]
    points: int
    dense: bool


@dataclass(frozen=True)
class RenderPlan:
    """What a render does, decided before it starts.

    The renderer follows it step by step; the RoI head sizes its point-head
    work by :attr:`predictions`, and the analysis scripts count the work
    from it.

    Args:
        coarse_size (tuple[int, int]): ``(h, w)`` of the coarse logits.
        steps (tuple[RenderStep, ...]): The steps, in order.
        scale_factor (int): Upsampling of a sparse step.
    """

    coarse_size: tuple[int, int]
    steps: tuple[RenderStep, ...]
    scale_factor: int

    @property
    def predictions(self) -> int:
        """Points the point head predicts over the render (per image/RoI)."""
        return sum(step.points for step in self.steps)

    @property
    def output_size(self) -> tuple[int, int]:
        """``(H, W)`` of the rendered map."""
        return self.steps[-1].size if self.steps else self.coarse_size


def plan_subdivision(
    coarse_size: tuple[int, int],
    num_steps: int,
    num_points: int,
    scale_factor: int = 2,
    render_init_grid: bool = False,
) -> tuple[tuple[int, int] | None, int]:
    """Where rendering starts and how many refinement steps remain.

    With ``render_init_grid`` (detectron2's instance rule), while the grid of
    the next step has at most ``num_points`` cells, a step is replaced by
    doubling the starting grid; the point head is then evaluated on every
    cell of that grid, so coarse-head logits never reach the output directly.

    Args:
        coarse_size (tuple[int, int]): ``(h, w)`` of the coarse logits.
        num_steps (int): Requested subdivision steps.
        num_points (int): ``N``, points predicted per step.
        scale_factor (int): Upsampling per step. Defaults to 2.
        render_init_grid (bool): Apply the rule above. Defaults to False.

    Returns:
        tuple: ``(init_size, steps)``: the grid the point head renders densely
        first (None to start from the coarse logits) and the number of
        upsample-and-refine steps after it.
    """
    if not render_init_grid:
        return None, num_steps
    height, width = coarse_size
    steps = num_steps
    while steps > 0 and scale_factor**2 * height * width <= num_points:
        height, width = height * scale_factor, width * scale_factor
        steps -= 1
    return (height, width), steps


def render_by_subdivision(
    coarse_logits: Tensor,
    predict_points: PointPredictor,
    uncertainty: MapUncertainty,
    num_steps: int,
    num_points: int,
    scale_factor: int = 2,
    render_init_grid: bool = False,
    on_step: StepObserver | None = None,
) -> Tensor:
    """Refine coarse logits by repeated upsampling and point prediction.

    :func:`render` with the plan of these settings.

    Args:
        coarse_logits (Tensor): (B, K, h, w) coarse prediction.
        predict_points (PointPredictor): Point head: (B, P, 2) -> (B, K, P).
        uncertainty (MapUncertainty): (B, K, H, W) -> (B, H, W) scores.
        num_steps (int): Number of subdivision steps.
        num_points (int): ``N``, points re-predicted per step.
        scale_factor (int): Upsampling factor per step. Defaults to 2.
        render_init_grid (bool): Start with the point head evaluated on a
            regular grid (see :func:`plan_subdivision`). Defaults to False.
        on_step (StepObserver, optional): Called after every step with the
            refined map and the re-predicted cells (for visualisation).

    Returns:
        Tensor: (B, K, h * s**num_steps, w * s**num_steps) refined logits.
    """
    settings = SubdivisionSettings(
        num_steps, num_points, scale_factor, render_init_grid
    )
    plan = settings.plan(tuple(coarse_logits.shape[-2:]))
    return render(coarse_logits, predict_points, uncertainty, plan, on_step)


def render(
    coarse_logits: Tensor,
    predict_points: PointPredictor,
    uncertainty: MapUncertainty,
    plan: RenderPlan,
    on_step: StepObserver | None = None,
) -> Tensor:
    """The renderer: follow a plan from coarse logits to the refined map.

    A sparse step upsamples the current map bilinearly
    (``align_corners=False``), picks the ``N`` most uncertain cells,
    re-predicts them with the point head at their centres and writes them
    back. A dense step (a grid of at most ``N`` cells, or the first grid of
    ``render_init_grid``) predicts every cell on the regular grid without
    upsampling or ranking: the result is the same and cheaper.

    Args:
        coarse_logits (Tensor): (B, K, h, w) coarse prediction.
        predict_points (PointPredictor): Point head: (B, P, 2) -> (B, K, P).
        uncertainty (MapUncertainty): (B, K, H, W) -> (B, H, W) scores.
        plan (RenderPlan): From :meth:`SubdivisionSettings.plan` for
            ``(h, w)``.
        on_step (StepObserver, optional): Called after every step with the
            refined map and the re-predicted cells (None for a dense step).

    Returns:
        Tensor: (B, K, H, W) refined logits, ``(H, W) = plan.output_size``.
    """
    batch, channels = coarse_logits.shape[:2]
    if tuple(coarse_logits.shape[-2:]) != tuple(plan.coarse_size):
        raise ValueError(
            f'the plan is for {plan.coarse_size} coarse logits, got '
            f'{tuple(coarse_logits.shape[-2:])}'
        )
    logits = coarse_logits
    for step in plan.steps:
        height, width = step.size
        if step.dense:
            logits = _render_dense(
                predict_points, batch, height, width, logits
            )
            if on_step is not None:
                on_step(logits, None)
            continue
        logits = F.interpolate(
            logits,
            scale_factor=plan.scale_factor,
            mode='bilinear',
            align_corners=False,
        )
        with region('uncertainty'):
            scores = uncertainty(logits).reshape(batch, height * width)
        with region('top-k'):
            idx = topk_cells(scores, step.points)
        point_logits = predict_points(cell_centers(idx, height, width))
        logits = (
            logits.reshape(batch, channels, height * width)
            .scatter_(
                2,
                idx.unsqueeze(1).expand(-1, channels, -1),
                point_logits.to(logits.dtype),
            )
            .view(batch, channels, height, width)
        )
        if on_step is not None:
            on_step(logits, idx)
    return logits


def _render_dense(
    predict_points: PointPredictor,
    batch: int,
    height: int,
    width: int,
    like: Tensor,
) -> Tensor:
    """Point-head prediction at every cell centre of an ``H x W`` grid.

    Args:
        predict_points (PointPredictor): (B, P, 2) -> (B, K, P).
        batch (int): ``B``.
        height (int): ``H``.
        width (int): ``W``.
        like (Tensor): Tensor whose device and dtype the result takes.

    Returns:
        Tensor: (B, K, H, W) logits.
    """
    points = regular_grid_points(batch, height, width, device=like.device)
    out = predict_points(points)
    return out.reshape(batch, out.shape[1], height, width).to(like.dtype)
