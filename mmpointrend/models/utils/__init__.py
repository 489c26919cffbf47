"""The PointRend core, shared by both tasks.

* :mod:`.point_features`: point geometry (sampling maps and RoIs at points,
  cell centres, labels under points, the class-channel rule);
* :mod:`.point_selection`: uncertainty measures and the training sampler;
* :mod:`.point_mlp`: the point head's MLP;
* :mod:`.subdivision`: the inference renderer and its settings.
"""

from .point_features import (
    cell_centers,
    class_channel,
    image_points_to_map,
    point_labels,
    point_sample,
    regular_grid_points,
    roi_points_to_image,
    sample_masks_at_points,
    sample_roi_points,
)
from .point_mlp import PointMLP
from .point_selection import (
    LogitUncertainty,
    UncertaintyPointSampler,
    blocked_topk,
    neg_abs_logit,
    semantic_uncertainty,
    top2_logit_gap,
    topk_cells,
)
from .subdivision import (
    RenderPlan,
    RenderStep,
    SubdivisionSettings,
    plan_subdivision,
    render,
    render_by_subdivision,
)

__all__ = [
    'LogitUncertainty',
    'PointMLP',
    'RenderPlan',
    'RenderStep',
    'SubdivisionSettings',
    'UncertaintyPointSampler',
    'class_channel',
    'cell_centers',
    'image_points_to_map',
    'neg_abs_logit',
    'plan_subdivision',
    'point_labels',
    'point_sample',
    'regular_grid_points',
    'render',
    'render_by_subdivision',
    'roi_points_to_image',
    'sample_masks_at_points',
    'sample_roi_points',
    'semantic_uncertainty',
    'top2_logit_gap',
    'blocked_topk',
    'topk_cells',
]
