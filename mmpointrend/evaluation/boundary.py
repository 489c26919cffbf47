"""Boundary regions and Boundary IoU (Cheng et al., CVPR 2021).

The boundary band of a binary mask is the set of its pixels within distance
``d`` of the mask contour, ``d = max(1, round(dilation_ratio * diagonal))``.
Distance is measured like ``d`` iterations of a 3x3 erosion (chessboard
distance), and pixels outside the image count as background, so a mask cut
by the image border has a boundary there. Boundary IoU of two masks is the
IoU of their bands.

Bands are computed from OpenCV's chessboard distance transform on CPU
(O(H * W) per mask, whatever ``d``) and from a separable max-pool of the
complement on GPU tensors (O(H * W * d), but massively parallel).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def boundary_dilation(height: int, width: int, ratio: float = 0.02) -> int:
    """Band width ``d`` in pixels for an image of the given size.

    Args:
        height (int): Image height.
        width (int): Image width.
        ratio (float): Fraction of the image diagonal. Defaults to 0.02.

    Returns:
        int: ``max(1, round(ratio * sqrt(H^2 + W^2)))``.
    """
    return max(1, int(round(ratio * math.hypot(height, width))))


def dilate(masks: Tensor, radius: int, outside: float = 0.0) -> Tensor:
    """Binary dilation by a ``(2r+1) x (2r+1)`` square.

    Args:
        masks (Tensor): (N, H, W) bool masks.
        radius (int): ``r``.
        outside (float): Value assumed outside the image (1 makes the image
            border act as foreground). Defaults to 0.

    Returns:
        Tensor: (N, H, W) bool.
    """
    if radius <= 0:
        return masks.clone()
    x = masks[:, None].to(torch.float16 if masks.is_cuda else torch.float32)
    x = F.pad(x, (radius,) * 4, value=outside)
    size = 2 * radius + 1
    x = F.max_pool2d(x, (1, size), stride=1)
    x = F.max_pool2d(x, (size, 1), stride=1)
    return x[:, 0] > 0


def boundary_band(masks: Tensor, dilation: int) -> Tensor:
    """Pixels of each mask within ``dilation`` of its contour.

    Args:
        masks (Tensor): (N, H, W) bool masks.
        dilation (int): Band width ``d``.

    Returns:
        Tensor: (N, H, W) bool bands (``mask`` minus its erosion by ``d``).
    """
    if masks.is_cuda:
        # erode(mask) = not dilate(not mask), with the outside as background.
        return masks & dilate(~masks, dilation, outside=1.0)
    out = np.zeros(masks.shape, bool)
    for i, mask in enumerate(masks.numpy().astype(np.uint8)):
        # One background pixel around the image: the border is a boundary.
        padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, 0)
        dist = cv2.distanceTransform(padded, cv2.DIST_C, 3)[1:-1, 1:-1]
        out[i] = mask.astype(bool) & (dist <= dilation)
    return torch.from_numpy(out)


def boundary_iou(a: Tensor, b: Tensor, dilation_ratio: float = 0.02) -> Tensor:
    """Boundary IoU of corresponding masks.

    Args:
        a (Tensor): (N, H, W) bool masks.
        b (Tensor): (N, H, W) bool masks.
        dilation_ratio (float): Band width as a fraction of the image
            diagonal. Defaults to 0.02.

    Returns:
        Tensor: (N,) Boundary IoU; 1 where both bands are empty.
    """
    d = boundary_dilation(*a.shape[-2:], dilation_ratio)
    band_a, band_b = boundary_band(a, d), boundary_band(b, d)
    inter = (band_a & band_b).flatten(1).sum(1).double()
    union = (band_a | band_b).flatten(1).sum(1).double()
    return torch.where(union > 0, inter / union.clamp(min=1), 1.0)
