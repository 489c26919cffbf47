"""The RoI head of Implicit PointRend (detectron2's other PointRend model)."""

from __future__ import annotations

from torch import Tensor, nn

from mmpointrend.registry import MODELS

from .pointrend_roi_head import PointRendMaskRoIHead


@MODELS.register_module()
class ImplicitPointRendRoIHead(PointRendMaskRoIHead):
    """Mask R-CNN RoI head whose mask branch is Implicit PointRend.

    `Pointly-Supervised Instance Segmentation
    <https://arxiv.org/abs/2104.06404>`_, section 3. The mask head
    (:class:`ImplicitParamHead`) predicts the parameters of a point MLP per
    positive RoI; the point head (:class:`ImplicitPointHead`) evaluates it.
    Training uses a single point loss on uniformly sampled points (plus an
    L2 penalty on the parameters), no coarse mask loss; with the point
    head's ``point_targets=dict(type='mmpointrend.AnnotatedPointTargets')``
    (PointSup) the points are the objects' annotated ones. Training and
    rendering are :class:`PointRendMaskRoIHead`'s; the point head's
    contract does the rest. Inference renders
    like PointRend: the 28x28 grid densely, then 3 steps of the 784 most
    uncertain points up to 224x224. The parameter head's output size is
    set from the point head; ``mask_head.num_params`` may be left out.

    Args:
        point_head (dict): :class:`ImplicitPointHead` config.
        *args: See :class:`PointRendMaskRoIHead`.
        **kwargs: See :class:`PointRendMaskRoIHead`.
    """

    @staticmethod
    def _complete_mask_head(point_head: nn.Module, kwargs: dict) -> dict:
        mask_head = dict(kwargs.get('mask_head') or {})
        given = mask_head.get('num_params')
        if given is not None and given != point_head.num_params:
            raise ValueError(
                f'mask_head.num_params={given} but the point head needs '
                f'{point_head.num_params} parameters per RoI; drop num_params '
                '(it is derived from the point head)'
            )
        mask_head['num_params'] = point_head.num_params
        return dict(kwargs, mask_head=mask_head)

    def _check_point_head(self) -> None:
        if getattr(self.mask_head, 'num_params', None) is None:
            raise ValueError(
                'ImplicitPointRendRoIHead needs mask_head='
                "dict(type='mmpointrend.ImplicitParamHead', ...), got "
                f'{type(self.mask_head).__name__}'
            )
        if not self.subdivision_settings().render_init_grid:
            raise ValueError(
                'Implicit PointRend has no coarse mask to start from; keep '
                'test_cfg.render_init_grid=True (the point head renders the '
                'first grid densely)'
            )

    def render_start(self, params: Tensor, labels: Tensor) -> Tensor:
        """Zeros on the ``S x S`` grid: there is no coarse mask.

        The renderer plans from the ``S x S`` grid of the RoI; with
        ``render_init_grid`` (validated at build) the point head renders
        the first grid (28 x 28) densely, so these zeros never reach the
        output.

        Args:
            params (Tensor): (R, num_params) predicted parameters.
            labels (Tensor): Unused.

        Returns:
            Tensor: (R, 1, S, S) zeros.
        """
        size = self.mask_head.output_size
        return params.new_zeros((params.shape[0], 1, size, size))
