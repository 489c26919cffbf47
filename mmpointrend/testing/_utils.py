"""Helpers that build small, real mmseg inputs and models."""

from __future__ import annotations

import copy
import os.path as osp

import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample


def demo_seg_batch(
    batch_size: int = 2,
    size: tuple[int, int] = (64, 64),
    num_classes: int = 4,
    ignore_fraction: float = 0.0,
    seed: int = 0,
) -> tuple[torch.Tensor, list[SegDataSample]]:
    """Random images and blocky label maps as a segmentor expects them.

    Args:
        batch_size (int): Number of images. Defaults to 2.
        size (tuple[int, int]): ``(H, W)``. Defaults to (64, 64).
        num_classes (int): Labels are drawn from ``[0, num_classes)``.
            Defaults to 4.
        ignore_fraction (float): Fraction of pixels set to 255. Defaults to 0.
        seed (int): Random seed. Defaults to 0.

    Returns:
        tuple: (B, 3, H, W) float images and the data samples with
        ``gt_sem_seg`` and meta information.
    """
    gen = torch.Generator().manual_seed(seed)
    height, width = size
    inputs = torch.randn(batch_size, 3, height, width, generator=gen)
    samples = []
    for _ in range(batch_size):
        blocks = torch.randint(
            0, num_classes, (1, height // 8 + 1, width // 8 + 1), generator=gen
        )
        label = blocks.repeat_interleave(8, 1).repeat_interleave(8, 2)
        label = label[:, :height, :width].clone()
        if ignore_fraction > 0:
            drop = torch.rand(label.shape, generator=gen) < ignore_fraction
            label[drop] = 255
        sample = SegDataSample(
            metainfo=dict(
                img_shape=size,
                ori_shape=size,
                pad_shape=size,
                padding_size=[0, 0, 0, 0],
            )
        )
        sample.gt_sem_seg = PixelData(data=label)
        samples.append(sample)
    return inputs, samples


#: The shipped small semantic recipe the tiny model is derived from.
_RECIPE = (
    'configs/synthetic/pointrend_fpn_r18-slim_2xb4-600_synthetic-256x256.py'
)


def tiny_segmentor_cfg(**overrides) -> dict:
    """Config of a very small SemanticFPN + PointRend segmentor (4 classes).

    The shipped synthetic recipe's model (``_RECIPE``) at half its widths:
    a 16-channel ResNet-18, a 32-channel FPN, 4 classes, 64 training points
    and a 256-point render, so unit tests build and run it in moments.

    Args:
        **overrides: Top-level model keys to replace.

    Returns:
        dict: A model config for ``mmpointrend.registry.MODELS.build``.
    """
    from mmengine.config import Config

    from mmpointrend.checkpoint.zoo import zoo_root

    recipe = Config.fromfile(osp.join(zoo_root(), _RECIPE)).model.to_dict()
    coarse, point = recipe['decode_head']
    recipe.update(
        # Children resolve in mmseg's scope whatever the caller's default.
        _scope_='mmseg',
        backbone=dict(recipe['backbone'], stem_channels=16, base_channels=16),
        neck=dict(
            recipe['neck'], in_channels=[16, 32, 64, 128], out_channels=32
        ),
        decode_head=[
            dict(coarse, in_channels=[32] * 4, channels=32, num_classes=4),
            dict(
                point,
                in_channels=[32],
                channels=32,
                num_classes=4,
                point_sampler=dict(point['point_sampler'], num_points=64),
            ),
        ],
        test_cfg=dict(subdivision_steps=2, subdivision_num_points=256),
    )
    recipe.update(copy.deepcopy(overrides))
    return recipe


def random_bn_statistics(model: torch.nn.Module, seed: int = 0):
    """Give every BatchNorm random running statistics, in place.

    Freshly built models have mean 0 / variance 1, which makes eval-mode BN
    the identity and hides errors in its handling (e.g. by an exporter).

    Args:
        model (torch.nn.Module): Model to change.
        seed (int): Seed of the statistics. Defaults to 0.

    Returns:
        torch.nn.Module: ``model``.
    """
    gen = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            mean, var = module.running_mean, module.running_var
            mean.copy_(torch.rand(mean.shape, generator=gen) * 0.2 - 0.1)
            var.copy_(torch.rand(var.shape, generator=gen) + 0.5)
    return model
