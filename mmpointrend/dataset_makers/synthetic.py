"""A small synthetic segmentation dataset with hard boundaries.

Scenes are textured backgrounds with objects whose outlines are rich in high
frequencies (stars, jagged polygons, thin bars, rings), composited with
anti-aliased edges. The same scenes are written in two standard layouts:

* mmseg: ``img_dir/{split}/*.png`` and ``ann_dir/{split}/*.png`` label maps;
* COCO: ``annotations/instances_{split}.json`` with RLE masks.

Everything is deterministic given the seed, so tests and the README demo
train on identical data everywhere.
"""

from __future__ import annotations

import math
import os
import os.path as osp

import cv2
import numpy as np

from mmpointrend.checkpoint.io import write_image

from .coco_writer import write_coco_instances

#: Class 0 is background; instance categories are ids 1..4 in COCO.
CLASSES = ('background', 'star', 'polygon', 'bar', 'ring')
#: Render masks at this multiple of the output size, then area-average:
#: the coverage fraction gives anti-aliased edges.
SUPERSAMPLE = 4


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size, 3) uint8 background: random sinusoids plus noise."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.zeros((size, size, 3), np.float32)
    base = rng.uniform(60, 190, size=3)
    for _ in range(4):
        fx, fy = rng.uniform(1, 12, size=2)
        phase = rng.uniform(0, 2 * math.pi)
        amp = rng.uniform(10, 30, size=3)
        wave = np.sin(2 * math.pi * (fx * xx + fy * yy) + phase)
        img += wave[..., None] * amp
    img += base + rng.normal(0, 8, size=img.shape)
    return np.clip(img, 0, 255)


def _star(rng, cx, cy, r):
    n = int(rng.integers(5, 11))
    inner = rng.uniform(0.3, 0.55)
    rot = rng.uniform(0, 2 * math.pi)
    pts = []
    for i in range(2 * n):
        rad = r if i % 2 == 0 else r * inner
        ang = rot + math.pi * i / n
        pts.append((cx + rad * math.cos(ang), cy + rad * math.sin(ang)))
    return [np.array(pts)]


def _polygon(rng, cx, cy, r):
    n = int(rng.integers(12, 24))
    angles = np.sort(rng.uniform(0, 2 * math.pi, n))
    radii = r * rng.uniform(0.45, 1.0, n)
    return [
        np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1)
    ]


def _bar(rng, cx, cy, r):
    ang = rng.uniform(0, math.pi)
    half_w = rng.uniform(1.5, 5.0)
    dx, dy = math.cos(ang), math.sin(ang)
    nx, ny = -dy, dx
    corners = [
        (cx + s * r * dx + t * half_w * nx, cy + s * r * dy + t * half_w * ny)
        for s, t in ((-1, -1), (1, -1), (1, 1), (-1, 1))
    ]
    return [np.array(corners)]


def _ring(rng, cx, cy, r):
    # A thick wavy annulus: outer contour and a hole (drawn with even-odd).
    n = 96
    ang = np.linspace(0, 2 * math.pi, n, endpoint=False)
    wobble = 1 + 0.15 * np.sin(int(rng.integers(3, 9)) * ang)
    thick = rng.uniform(0.25, 0.5)
    outer = np.stack(
        [cx + r * wobble * np.cos(ang), cy + r * wobble * np.sin(ang)], 1
    )
    inner = np.stack(
        [
            cx + r * (1 - thick) * wobble * np.cos(ang),
            cy + r * (1 - thick) * wobble * np.sin(ang),
        ],
        1,
    )
    return [outer, inner]


_SHAPES = {1: _star, 2: _polygon, 3: _bar, 4: _ring}


def _coverage(contours: list[np.ndarray], size: int) -> np.ndarray:
    """Anti-aliased (size, size) coverage of the even-odd filled shape."""
    big = np.zeros((size * SUPERSAMPLE, size * SUPERSAMPLE), np.uint8)
    pts = [np.round(c * SUPERSAMPLE).astype(np.int32) for c in contours]
    # fillPoly fills with the even-odd rule, so a ring's inner contour is a
    # hole.
    cv2.fillPoly(big, pts, 1)
    return cv2.resize(
        big.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA
    )


def render_scene(
    rng: np.random.Generator, size: int, max_objects: int = 6
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, np.ndarray]]]:
    """Render one scene.

    Args:
        rng (np.random.Generator): Random source.
        size (int): Image side in pixels.
        max_objects (int): Upper bound on objects per scene. Defaults to 6.

    Returns:
        tuple: (size, size, 3) uint8 BGR image, (size, size) uint8 label map,
        and ``(category_id, visible binary mask)`` for each instance, with
        occlusion by later objects applied.
    """
    img = _texture(rng, size)
    label = np.zeros((size, size), np.uint8)
    owner = np.full((size, size), -1, np.int32)
    cats = []
    for k in range(int(rng.integers(1, max_objects + 1))):
        cat = int(rng.integers(1, len(CLASSES)))
        r = rng.uniform(0.06, 0.2) * size
        if cat == 3:
            r *= 1.6
        cx, cy = rng.uniform(r * 0.5, size - r * 0.5, size=2)
        cov = _coverage(_SHAPES[cat](rng, cx, cy, r), size)
        colour = rng.uniform(0, 255, size=3)
        shade = 1 + 0.15 * rng.normal(size=(size, size, 1))
        img = img * (1 - cov[..., None]) + (colour * shade) * cov[..., None]
        inside = cov >= 0.5
        label[inside] = cat
        owner[inside] = k
        cats.append(cat)
    instances = []
    for k, cat in enumerate(cats):
        visible = owner == k
        if visible.sum() >= 16:  # drop fully occluded slivers
            instances.append((cat, visible))
    return np.clip(img, 0, 255).astype(np.uint8), label, instances


def generate_synthetic_dataset(
    out_dir: str,
    num_train: int = 48,
    num_val: int = 16,
    size: int = 512,
    seed: int = 0,
) -> dict[str, int]:
    """Write the dataset to ``out_dir`` (see the module docstring).

    Existing files are overwritten; nothing else in ``out_dir`` is touched.

    Args:
        out_dir (str): Root folder of the dataset.
        num_train (int): Training images. Defaults to 48.
        num_val (int): Validation images. Defaults to 16.
        size (int): Image side. Defaults to 512.
        seed (int): Random seed. Defaults to 0.

    Returns:
        dict[str, int]: Number of images and instances written per split.
    """
    if num_train < 1 or num_val < 1 or size < 32:
        raise ValueError(
            'need num_train >= 1, num_val >= 1 and size >= 32, got '
            f'{num_train}, {num_val}, {size}'
        )
    counts = {}
    for split, num, split_seed in (
        ('train', num_train, seed),
        ('val', num_val, seed + 1_000_003),
    ):
        rng = np.random.default_rng(split_seed)
        img_dir = osp.join(out_dir, 'img_dir', split)
        ann_dir = osp.join(out_dir, 'ann_dir', split)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        images, instances = [], []
        for i in range(num):
            name = f'{split}_{i:04d}.png'
            img, label, scene = render_scene(rng, size)
            write_image(osp.join(img_dir, name), img)
            write_image(osp.join(ann_dir, name), label)
            images.append(
                dict(id=i + 1, file_name=name, height=size, width=size)
            )
            instances += [(i + 1, cat, mask) for cat, mask in scene]
        num_instances = write_coco_instances(
            osp.join(out_dir, 'annotations', f'instances_{split}.json'),
            images,
            instances,
            CLASSES[1:],
        )
        counts[f'{split}_images'] = num
        counts[f'{split}_instances'] = num_instances
    return counts


def dataset_is_complete(
    out_dir: str, num_train: int = 48, num_val: int = 16
) -> bool:
    """Whether ``out_dir`` already holds a generated dataset of this size.

    Args:
        out_dir (str): Root folder of the dataset.
        num_train (int): Expected training images. Defaults to 48.
        num_val (int): Expected validation images. Defaults to 16.

    Returns:
        bool: True if images, labels and COCO files are all present.
    """
    for split, num in (('train', num_train), ('val', num_val)):
        for sub in ('img_dir', 'ann_dir'):
            folder = osp.join(out_dir, sub, split)
            if not osp.isdir(folder) or len(os.listdir(folder)) < num:
                return False
        if not osp.isfile(
            osp.join(out_dir, 'annotations', f'instances_{split}.json')
        ):
            return False
    return True
