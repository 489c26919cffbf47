"""RoI features read on a regular grid inside each box."""

from __future__ import annotations

from collections.abc import Sequence

from mmengine.model import BaseModule
from torch import Tensor

from mmpointrend.registry import MODELS
from mmpointrend.utils.typing_utils import OptMultiConfig

from ...utils.point_features import regular_grid_points, sample_roi_points


@MODELS.register_module()
class GridRoIExtractor(BaseModule):
    """Bilinear features at the ``S x S`` cell centres of every box.

    This is how PointRend's coarse mask head sees a box (detectron2 reads
    P2 with ``point_sample`` on a regular grid; mmdet uses ``SimpleRoIAlign``).
    It equals RoIAlign with ``aligned=True, sampling_ratio=1`` on each level,
    needs no compiled op, and shares the point geometry of the point head.
    Every box reads every listed level (no FPN level assignment); levels are
    concatenated along channels.

    Args:
        featmap_strides (Sequence[int]): Stride of each level read. Defaults
            to ``(4,)`` (P2).
        output_size (int): Grid side ``S``. Defaults to 14.
        out_channels (int): Channels of the result (sum over levels), kept
            for API compatibility with mmdet's extractors. Defaults to 256.
        init_cfg (dict, optional): Unused; no parameters.
    """

    def __init__(
        self,
        featmap_strides: Sequence[int] = (4,),
        output_size: int = 14,
        out_channels: int = 256,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg)
        self.featmap_strides = list(featmap_strides)
        self.output_size = output_size
        self.out_channels = out_channels

    @property
    def num_inputs(self) -> int:
        """Number of feature levels read."""
        return len(self.featmap_strides)

    def forward(
        self,
        feats: Sequence[Tensor],
        rois: Tensor,
        roi_scale_factor: float | None = None,
    ) -> Tensor:
        """Read RoI features.

        Args:
            feats (Sequence[Tensor]): Levels of (B, C_l, H_l, W_l) maps.
            rois (Tensor): (R, 5) ``(batch_index, x1, y1, x2, y2)``.
            roi_scale_factor (float, optional): Not supported (must be None).

        Returns:
            Tensor: (R, sum(C_l), S, S) features.
        """
        if roi_scale_factor is not None:
            raise ValueError('GridRoIExtractor does not rescale RoIs')
        size = self.output_size
        grid = regular_grid_points(
            rois.shape[0], size, size, device=rois.device
        )
        out = sample_roi_points(
            list(feats[: self.num_inputs]), self.featmap_strides, rois, grid
        )
        return out.view(rois.shape[0], out.shape[1], size, size)
