"""Coarse masks made from ground truth, for training a mask refiner.

A refiner learns to turn someone else's coarse mask into the true one, so
its training inputs are ground-truth masks degraded the way real coarse
masks are wrong: too low a resolution (a 28x28 Mask R-CNN mask, a stride-4
semantic map), a boundary too far in or out, a shifted or scaled outline,
ragged edges. Every degradation draws from a ``torch.Generator``, so a seed
gives the same coarse masks on any machine.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _box_blur(x: Tensor, radius: int) -> Tensor:
    if radius <= 0:
        return x
    k = 2 * radius + 1
    return F.avg_pool2d(
        x, k, stride=1, padding=radius, count_include_pad=False
    )


def degrade_masks(
    masks: Tensor,
    generator: torch.Generator | None = None,
    min_factor: int = 4,
    max_factor: int = 16,
    max_morph: int = 3,
    max_shift: float = 0.05,
    noise: float = 0.5,
) -> Tensor:
    """Soft coarse masks (probabilities) from binary ground truth.

    Each mask gets, with its own random draws: a downsample-upsample round
    trip by a factor in ``[min_factor, max_factor]`` (area down, bilinear
    up), a dilation or erosion of up to ``max_morph`` pixels, a shift and
    scale of up to ``max_shift`` of its box size (the outline jitter of a
    misplaced polygon), and smoothed random noise on the boundary.

    Args:
        masks (Tensor): (N, H, W) bool or {0, 1} masks.
        generator (torch.Generator, optional): Source of randomness.
        min_factor (int): Least down-sampling factor. Defaults to 4.
        max_factor (int): Largest down-sampling factor. Defaults to 16.
        max_morph (int): Largest dilation/erosion radius. Defaults to 3.
        max_shift (float): Largest shift/scale, as a fraction of the
            object's box size. Defaults to 0.05.
        noise (float): Amplitude of the boundary noise (in probability).
            Defaults to 0.5.

    Returns:
        Tensor: (N, H, W) float probabilities in ``[0, 1]``.
    """
    if masks.dim() != 3:
        raise ValueError(f'masks must be (N, H, W), got {tuple(masks.shape)}')
    num, height, width = masks.shape
    out = masks.float().clone()
    if num == 0 or height == 0 or width == 0:
        return out

    def draw(*shape: int) -> Tensor:
        return torch.rand(*shape, generator=generator).to(masks.device)

    for i in range(num):
        m = out[i][None, None]
        if m.sum() == 0:
            continue
        # outline jitter: shift and scale about the object's centre
        ys, xs = torch.nonzero(m[0, 0] > 0.5, as_tuple=True)
        cy, cx = ys.float().mean(), xs.float().mean()
        bh = (ys.max() - ys.min() + 1).float()
        bw = (xs.max() - xs.min() + 1).float()
        shift = (draw(2) * 2 - 1) * max_shift
        scale = 1 + (draw(1) * 2 - 1) * max_shift
        theta = torch.zeros(1, 2, 3, device=masks.device)
        theta[0, 0, 0] = 1 / scale
        theta[0, 1, 1] = 1 / scale
        # affine_grid works in [-1, 1] image coordinates
        centre = torch.stack((cx / width * 2 - 1, cy / height * 2 - 1))
        offset = torch.stack(
            (shift[0] * bw / width * 2, shift[1] * bh / height * 2)
        )
        theta[0, :, 2] = centre * (1 - 1 / scale) - offset
        grid = F.affine_grid(theta, (1, 1, height, width), align_corners=False)
        m = F.grid_sample(m, grid, mode='bilinear', align_corners=False)
        # dilation or erosion
        radius = int(draw(1).item() * (max_morph + 1))
        if radius > 0:
            k = 2 * radius + 1
            if draw(1).item() < 0.5:
                m = F.max_pool2d(m, k, stride=1, padding=radius)
            else:
                m = -F.max_pool2d(-m, k, stride=1, padding=radius)
        # boundary noise: smoothed noise, only near the boundary
        near = _box_blur(m, 2)
        band = (near > 0.02) & (near < 0.98)
        rough = _box_blur(draw(1, 1, height, width) * 2 - 1, 1) * noise
        m = torch.where(band, (m + rough).clamp(0, 1), m)
        # resolution loss: area down-sampling, bilinear up-sampling
        factor = min_factor + int(
            draw(1).item() * (max_factor - min_factor + 1)
        )
        small = (max(1, height // factor), max(1, width // factor))
        m = F.interpolate(m, size=small, mode='area')
        m = F.interpolate(
            m, size=(height, width), mode='bilinear', align_corners=False
        )
        out[i] = m[0, 0].clamp(0, 1)
    return out
