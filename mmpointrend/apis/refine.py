"""Refine masks from any model with a :class:`PointRendRefiner`."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from mmengine.structures import InstanceData
from torch import nn


def _test_pipeline(cfg: Any) -> Any:
    """The config's test pipeline reading an array, without annotations."""
    from mmcv.transforms import Compose

    steps = copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
    kept = []
    for step in steps:
        kind = str(step['type'])
        if kind.endswith('LoadAnnotations'):
            continue
        if kind.endswith('LoadImageFromFile'):
            step = dict(type='mmdet.LoadImageFromNDArray')
        kept.append(step)
    from mmengine.registry import init_default_scope

    init_default_scope('mmdet')
    return Compose(kept)


def refine_masks(
    model: nn.Module,
    image: str | np.ndarray,
    masks: np.ndarray | torch.Tensor,
) -> np.ndarray:
    """Refine the masks of one image.

    Args:
        model (nn.Module): A refiner from :func:`init_model` (a
            ``mmpointrend.PointRendRefiner`` config and its weights).
        image (str | np.ndarray): Image path, or (H, W, 3) BGR uint8 array.
        masks (np.ndarray | Tensor): (N, H, W) masks of the image: bool or
            0/1, probabilities in ``[0, 1]``, or uint8 probabilities
            (0-255). Any resolution; they are resampled to the image.

    Returns:
        np.ndarray: (N, H, W) bool refined masks at the image's size.

    Raises:
        ValueError: ``masks`` is not (N, H, W), or the model is not a
            refiner.
    """
    import mmcv

    from mmpointrend.models.refiners import PointRendRefiner

    if not isinstance(model, PointRendRefiner):
        raise ValueError(
            f'refine_masks needs a PointRendRefiner, got '
            f'{type(model).__name__} (see configs/refiner/)'
        )
    array = mmcv.imread(image) if isinstance(image, str) else image
    if array is None or array.ndim != 3:
        raise ValueError(f'{image!r}: not a readable (H, W, 3) image')
    coarse = torch.as_tensor(np.asarray(masks))
    if coarse.dim() != 3:
        raise ValueError(
            f'masks must be (N, H, W), got shape {tuple(coarse.shape)}'
        )
    height, width = array.shape[:2]
    if coarse.shape[0] == 0:
        return np.zeros((0, height, width), bool)
    coarse = coarse.float()
    if coarse.max() > 1:
        coarse = coarse / 255.0
    data = _test_pipeline(model.cfg)(dict(img=array, img_id=0))
    sample = data['data_samples']
    sample.coarse_instances = InstanceData(masks=coarse)
    if tuple(coarse.shape[-2:]) not in (
        (height, width),
        tuple(sample.metainfo['img_shape'][:2]),
    ):
        # another resolution: first to the original image, then the model
        # resamples it to its input
        coarse = torch.nn.functional.interpolate(
            coarse[:, None],
            size=(height, width),
            mode='bilinear',
            align_corners=False,
        )[:, 0]
        sample.coarse_instances = InstanceData(masks=coarse)
    batch = dict(inputs=[data['inputs']], data_samples=[sample])
    with torch.no_grad():
        result = model.test_step(batch)[0]
    return result.pred_instances.masks.cpu().numpy().astype(bool)
