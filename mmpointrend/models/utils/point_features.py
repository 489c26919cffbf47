"""Point geometry shared by the semantic and the instance PointRend heads.

Conventions (every function here follows them):

* A point is ``(x, y)`` normalized to ``[0, 1] x [0, 1]`` over the *extent* of
  its domain: the (padded) image / feature map for semantic segmentation, the
  box for RoI-relative points.
* ``align_corners=False``: ``(0, 0)`` is the top-left *corner* of pixel
  ``(0, 0)`` and the centre of pixel ``(i, j)`` of an ``H x W`` map is
  ``((j + 0.5) / W, (i + 0.5) / H)``. Sampling a map at those cell centres
  returns the cell values exactly, which is what makes scattering refined
  point predictions back by flat index consistent.
* Box coordinates are continuous ``(x1, y1, x2, y2)`` image coordinates, with
  no +-0.5 pixel offset (the "aligned" RoIAlign convention).

Shape shorthand: ``B`` images, ``R`` regions (RoIs), ``C`` channels, ``K``
classes, ``P`` points, ``H x W`` a map.

Everything is plain PyTorch (``F.grid_sample``), so PointRend runs without
compiled ``mmcv.ops``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def point_sample(
    input: Tensor,
    points: Tensor,
    mode: str = 'bilinear',
    padding_mode: str = 'zeros',
) -> Tensor:
    """Read ``input`` at continuous, normalized point locations.

    Args:
        input (Tensor): (B, C, H, W) map to read.
        points (Tensor): (B, P, 2) or (B, Hg, Wg, 2) normalized ``(x, y)``
            locations in ``[0, 1]``.
        mode (str): ``'bilinear'`` or ``'nearest'``. Defaults to
            ``'bilinear'``.
        padding_mode (str): What points outside the map read, as in
            :func:`torch.nn.functional.grid_sample`. ``'zeros'`` (the
            convention of all public implementations) blends toward 0 outside.
            Defaults to ``'zeros'``.

    Returns:
        Tensor: (B, C, P) for (B, P, 2) points, (B, C, Hg, Wg) for gridded
        points.
    """
    flat = points.dim() == 3
    grid = points.unsqueeze(2) if flat else points
    # grid_sample needs grid and input of one dtype; under AMP the map may be
    # fp16 while coordinates are fp32. Coordinates are cast to the map's dtype
    # only when it is a float32/64 map: fp16 coordinates lose sub-pixel
    # precision on large maps, so half maps are read in fp32 instead.
    if input.dtype in (torch.float16, torch.bfloat16):
        out = F.grid_sample(
            input.float(),
            grid.float() * 2.0 - 1.0,
            mode=mode,
            padding_mode=padding_mode,
            align_corners=False,
        ).to(input.dtype)
    else:
        out = F.grid_sample(
            input,
            grid.to(input.dtype) * 2.0 - 1.0,
            mode=mode,
            padding_mode=padding_mode,
            align_corners=False,
        )
    return out.squeeze(3) if flat else out


def cell_centers(
    indices: Tensor, height: int, width: int, dtype: torch.dtype | None = None
) -> Tensor:
    """Normalized centres of the cells with the given flat indices.

    Args:
        indices (Tensor): (B, P) integer indices into a row-major ``H * W``
            grid.
        height (int): Grid height ``H``.
        width (int): Grid width ``W``.
        dtype (torch.dtype, optional): Output dtype. Defaults to float32.

    Returns:
        Tensor: (B, P, 2) ``(x, y)`` cell centres ``((j + .5) / W,
        (i + .5) / H)``.
    """
    dtype = torch.float32 if dtype is None else dtype
    cols = torch.remainder(indices, width).to(dtype)
    rows = torch.div(indices, width, rounding_mode='floor').to(dtype)
    return torch.stack(((cols + 0.5) / width, (rows + 0.5) / height), dim=-1)


def regular_grid_points(
    batch_size: int,
    height: int,
    width: int,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Centres of every cell of an ``H x W`` grid, in row-major order.

    Args:
        batch_size (int): Number of copies ``B``.
        height (int): Grid height ``H``.
        width (int): Grid width ``W``.
        device (torch.device | str, optional): Output device.
        dtype (torch.dtype, optional): Output dtype. Defaults to float32.

    Returns:
        Tensor: (B, H * W, 2) normalized ``(x, y)`` cell centres; point ``p``
        is the centre of flat cell ``p``.
    """
    idx = torch.arange(height * width, device=device)
    grid = cell_centers(idx[None], height, width, dtype)
    return grid.expand(batch_size, -1, -1)


def roi_points_to_image(boxes: Tensor, rel_points: Tensor) -> Tensor:
    """Map box-relative points to absolute image coordinates.

    ``x_img = x1 + u * (x2 - x1)`` and ``y_img = y1 + v * (y2 - y1)``: box
    coordinates are continuous, so ``u = 0`` is the left edge of the box.

    Args:
        boxes (Tensor): (R, 4) ``(x1, y1, x2, y2)`` boxes in image pixels.
        rel_points (Tensor): (R, P, 2) points normalized to their box.

    Returns:
        Tensor: (R, P, 2) absolute ``(x, y)`` image coordinates.
    """
    origin = boxes[:, None, :2]
    size = (boxes[:, 2:] - boxes[:, :2])[:, None]
    return origin + rel_points * size


def image_points_to_map(
    abs_points: Tensor, map_size: Sequence[int], stride: float
) -> Tensor:
    """Normalize absolute image points to a feature map of a given stride.

    The map of size ``(H, W)`` at stride ``s`` covers ``W * s`` x ``H * s``
    image pixels (the *padded* extent), so ``x_norm = x_img / (W * s)``.

    Args:
        abs_points (Tensor): (..., 2) absolute ``(x, y)`` image coordinates.
        map_size (Sequence[int]): ``(H, W)`` of the feature map.
        stride (float): Stride of the map relative to the image.

    Returns:
        Tensor: (..., 2) points normalized to the map.
    """
    height, width = map_size
    extent = abs_points.new_tensor((width * stride, height * stride))
    return abs_points / extent


def sample_masks_at_points(
    masks: Tensor, mask_index: Tensor, abs_points: Tensor
) -> Tensor:
    """Bilinearly read binary masks at absolute image points.

    Equal to ``point_sample(masks[mask_index].float(), normalized points)``
    (``align_corners=False``, zero padding), but reads the four neighbours of
    each point by indexing, so the masks may stay ``uint8``/``bool`` and are
    never copied per RoI: memory is O(R * P), not O(R * H * W).

    Args:
        masks (Tensor): (N, H, W) masks of one image (any numeric/bool dtype).
        mask_index (Tensor): (R,) which mask each row of points reads.
        abs_points (Tensor): (R, P, 2) ``(x, y)`` in image pixels.

    Returns:
        Tensor: (R, P) float values in ``[0, 1]`` for binary masks (soft at
        mask edges).
    """
    num_rows, num_points = abs_points.shape[:2]
    if num_rows == 0 or masks.shape[0] == 0:
        return abs_points.new_zeros((num_rows, num_points))
    height, width = masks.shape[-2:]
    # Pixel centres sit at i + 0.5 (align_corners=False).
    u = abs_points[..., 0] - 0.5
    v = abs_points[..., 1] - 0.5
    x0, y0 = u.floor(), v.floor()
    wx, wy = u - x0, v - y0
    x0, y0 = x0.long(), y0.long()
    flat = masks.reshape(masks.shape[0], height * width)
    rows = mask_index.long()[:, None].expand(-1, num_points)
    out = abs_points.new_zeros((num_rows, num_points))
    for dx, dy, weight in (
        (0, 0, (1 - wx) * (1 - wy)),
        (1, 0, wx * (1 - wy)),
        (0, 1, (1 - wx) * wy),
        (1, 1, wx * wy),
    ):
        xs, ys = x0 + dx, y0 + dy
        inside = (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
        idx = ys.clamp(0, height - 1) * width + xs.clamp(0, width - 1)
        values = flat[rows, idx].to(out.dtype)
        out += torch.where(inside, values * weight, torch.zeros_like(weight))
    return out


def sample_roi_points(
    feats: Sequence[Tensor],
    strides: Sequence[float],
    rois: Tensor,
    rel_points: Tensor,
    reduce: str = 'cat',
) -> Tensor:
    """Read multi-level feature maps at box-relative points of many RoIs.

    Args:
        feats (Sequence[Tensor]): Levels of (B, C_l, H_l, W_l) maps.
        strides (Sequence[float]): Stride of each level.
        rois (Tensor): (R, 5) ``(batch_index, x1, y1, x2, y2)`` RoIs.
        rel_points (Tensor): (R, P, 2) points normalized to each box.
        reduce (str): ``'cat'`` concatenates the levels' channels;
            ``'sum'`` adds levels of equal width (for maps that already hold
            each level's share of a linear layer, see
            :meth:`PointMLP.project_fine`). Defaults to ``'cat'``.

    Returns:
        Tensor: (R, sum(C_l), P) features (``'cat'``) or (R, C, P)
        (``'sum'``); for zero RoIs a well-shaped empty tensor.
    """
    if reduce not in ('cat', 'sum'):
        raise ValueError(f"reduce must be 'cat' or 'sum', got {reduce!r}")
    if len(feats) != len(strides):
        raise ValueError(
            f'got {len(feats)} feature levels but {len(strides)} strides; '
            'give one stride per fine-grained level'
        )
    num_rois, num_points = rel_points.shape[:2]
    widths = [f.shape[1] for f in feats]
    channels = sum(widths) if reduce == 'cat' else widths[0]
    abs_points = roi_points_to_image(rois[:, 1:], rel_points)
    if feats[0].shape[0] == 1:
        # One image (inference, export): every RoI reads it; no grouping by
        # image, so nothing depends on the number of RoIs.
        return _sample_image_points(feats, strides, 0, abs_points, reduce)
    out = feats[0].new_zeros((num_rois, channels, num_points))
    if num_rois == 0:
        return out
    batch_index = rois[:, 0].long()
    # grid_sample needs an image index per grid, so RoIs are grouped by image.
    for b in torch.unique(batch_index).tolist():
        sel = torch.nonzero(batch_index == b).squeeze(1)
        out[sel] = _sample_image_points(
            feats, strides, b, abs_points[sel], reduce
        ).to(out.dtype)
    return out


def _sample_image_points(
    feats: Sequence[Tensor],
    strides: Sequence[float],
    index: int,
    pts: Tensor,
    reduce: str = 'cat',
) -> Tensor:
    """Features of image ``index`` at (R, P, 2) image-pixel points.

    Returns:
        Tensor: (R, sum(C_l), P) for ``'cat'``, (R, C, P) for ``'sum'``.
    """
    num_rois, num_points = pts.shape[:2]
    parts = []
    for feat, stride in zip(feats, strides):
        norm = image_points_to_map(pts, feat.shape[-2:], stride)
        parts.append(
            point_sample(feat[index : index + 1], norm.view(1, -1, 2))
        )
    # (1, C, R * P); a single level is used as it is (a cat would copy it).
    if len(parts) == 1:
        level_feats = parts[0]
    elif reduce == 'sum':
        level_feats = torch.stack(parts).sum(0)
    else:
        level_feats = torch.cat(parts, dim=1)
    channels = level_feats.shape[1]
    return level_feats.view(channels, num_rois, num_points).transpose(0, 1)


def point_labels(label_map: Tensor, points: Tensor) -> Tensor:
    """Labels of the pixels that contain each point.

    Equivalent to nearest sampling with ``align_corners=False`` but read by
    integer indexing: no float copy of the whole label map per iteration.

    Args:
        label_map (Tensor): (B, H, W) integer label map (padding carries the
            ignore index).
        points (Tensor): (B, P, 2) normalized ``(x, y)`` in ``[0, 1)``.

    Returns:
        Tensor: (B, P) labels.
    """
    batch, height, width = label_map.shape
    cols = (points[..., 0] * width).long().clamp_(0, width - 1)
    rows = (points[..., 1] * height).long().clamp_(0, height - 1)
    flat = label_map.reshape(batch, height * width)
    return torch.gather(flat, 1, rows * width + cols).long()


def class_channel(labels: Tensor, num_channels: int) -> Tensor:
    """The channel of a per-class map that holds each label's prediction.

    One rule for every per-class output of the instance branch (coarse mask
    logits, point logits, pictures of them): a class-agnostic map has a
    single channel shared by all classes.

    Args:
        labels (Tensor): (R,) class labels.
        num_channels (int): Channels of the map: ``K``, or 1 when class
            agnostic.

    Returns:
        Tensor: (R,) channel indices.
    """
    return labels.new_zeros(labels.shape) if num_channels == 1 else labels
