"""Point geometry, point selection and the subdivision renderer."""

from .point_sample import (
    cell_centers,
    image_points_to_map,
    point_sample,
    regular_grid_points,
    roi_points_to_image,
    sample_masks_at_points,
    sample_roi_points,
)
from .point_selection import (
    UncertaintyPointSampler,
    neg_abs_logit,
    semantic_uncertainty,
    top2_logit_gap,
    topk_cells,
)
from .subdivision import plan_subdivision, render_by_subdivision

__all__ = [
    'UncertaintyPointSampler',
    'cell_centers',
    'image_points_to_map',
    'neg_abs_logit',
    'plan_subdivision',
    'point_sample',
    'regular_grid_points',
    'render_by_subdivision',
    'roi_points_to_image',
    'sample_masks_at_points',
    'sample_roi_points',
    'semantic_uncertainty',
    'top2_logit_gap',
    'topk_cells',
]
