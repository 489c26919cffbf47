"""Scores, table and picture of the refiner's before/after study.

``tools/analysis/refine_study.py`` produces the masks; this module scores
prediction folders as the tools write them (``tools/infer.py`` /
``tools/refine.py``: ``<image>.json`` instance files, ``<image>.png``
label maps) against the dataset's ground truth, and renders the Markdown
block and the before/after picture.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os.path as osp
import statistics

import cv2
import numpy as np
import torch

#: (result key, column title) per kind of input.
INSTANCE_KEYS = (('segm_mAP', 'mask AP'), ('boundary_mAP', 'Boundary AP'))
SEMANTIC_KEYS = (('mIoU', 'mIoU'), ('mBIoU', 'Boundary mIoU'))
OBJECT_KEYS = (('object_IoU', 'mask IoU'), ('object_BIoU', 'Boundary IoU'))


def object_scores(
    gt: list[np.ndarray], pred: list[np.ndarray]
) -> dict[str, float]:
    """Mean mask IoU and Boundary IoU of corresponding object masks.

    Args:
        gt (list[np.ndarray]): Per image, (N, H, W) bool ground truth.
        pred (list[np.ndarray]): Per image, (N, H, W) bool masks of the
            same objects in the same order.

    Returns:
        dict[str, float]: ``object_IoU`` and ``object_BIoU``, means over
        every object of every image (Boundary IoU: band 2% of the image
        diagonal; an object whose masks are both empty counts 1).
    """
    from mmpointrend.evaluation.boundary import boundary_iou

    ious, bious = [], []
    for g, p in zip(gt, pred, strict=True):
        if g.shape != p.shape:
            raise ValueError(f'{p.shape} masks for {g.shape} ground truth')
        if len(g) == 0:
            continue
        a, b = torch.from_numpy(g), torch.from_numpy(p)
        inter = (a & b).flatten(1).sum(1).double()
        union = (a | b).flatten(1).sum(1).double()
        ious.append(torch.where(union > 0, inter / union.clamp(min=1), 1.0))
        bious.append(boundary_iou(a, b))
    if not ious:
        return dict(object_IoU=float('nan'), object_BIoU=float('nan'))
    return dict(
        object_IoU=float(torch.cat(ious).mean()),
        object_BIoU=float(torch.cat(bious).mean()),
    )


def coco_results_from_folder(ann_file: str, pred_dir: str) -> list[dict]:
    """COCO results of every image of ``ann_file`` from instance files.

    Args:
        ann_file (str): COCO annotation file; its ``file_name`` values name
            the files ``pred_dir/<file_name>.json`` (``tools/infer.py``).
        pred_dir (str): Folder of instance files.

    Returns:
        list[dict]: ``image_id``, ``category_id`` (the file's ``label``-th
        category id, sorted), ``score`` and RLE ``segmentation`` per mask.

    Raises:
        FileNotFoundError: An image of ``ann_file`` has no file (the path is
            named).
    """
    with open(ann_file) as f:
        coco = json.load(f)
    cat_ids = sorted(c['id'] for c in coco['categories'])
    results = []
    for image in coco['images']:
        path = osp.join(pred_dir, image['file_name'] + '.json')
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'{path}: no predictions for image {image["file_name"]!r} '
                f'of {ann_file}; run tools/infer.py on its images first'
            )
        with open(path) as f:
            doc = json.load(f)
        for inst in doc['instances']:
            results.append(
                dict(
                    image_id=image['id'],
                    category_id=cat_ids[inst['label']],
                    score=float(inst['score']),
                    segmentation=inst['segmentation'],
                )
            )
    return results


def instance_scores(ann_file: str, pred_dir: str) -> dict[str, float]:
    """Mask AP and Boundary AP of a folder of instance files.

    Args:
        ann_file (str): COCO annotation file of the images.
        pred_dir (str): ``tools/infer.py`` / ``tools/refine.py`` output.

    Returns:
        dict[str, float]: ``segm_mAP`` and ``boundary_mAP`` (COCO AP at
        IoU 0.5:0.95, in ``[0, 1]``; 0 without detections).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from mmpointrend.evaluation.boundary_coco_metric import BoundaryCOCOeval

    results = coco_results_from_folder(ann_file, pred_dir)
    if not results:
        return dict(segm_mAP=0.0, boundary_mAP=0.0)
    evaluators = (
        ('segm_mAP', lambda gt, dt: COCOeval(gt, dt, 'segm')),
        ('boundary_mAP', BoundaryCOCOeval),
    )
    scores = {}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(ann_file)
        for key, make in evaluators:
            # loadRes adds numpy boxes to the records it is given
            evaluator = make(gt, gt.loadRes(copy.deepcopy(results)))
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
            scores[key] = max(0.0, float(evaluator.stats[0]))
    return scores


def semantic_scores(
    gt_dir: str,
    pred_dir: str,
    num_classes: int,
    ignore_index: int = 255,
) -> dict[str, float]:
    """Mean IoU and Boundary mIoU of a folder of label maps.

    Intersections and unions are summed over the images per class, then
    averaged over the classes present in the ground truth or the
    predictions (as mmseg's ``IoUMetric`` and this project's
    ``BoundaryIoUMetric``, band 2% of the image diagonal).

    Args:
        gt_dir (str): Ground-truth label PNGs, ``<stem>.png``.
        pred_dir (str): Predicted label PNGs, ``<stem><ext>.png`` for the
            image ``<stem><ext>`` (``tools/infer.py``), found by stem.
        num_classes (int): Classes, background included.
        ignore_index (int): Unlabelled value of the ground truth.

    Returns:
        dict[str, float]: ``mIoU`` and ``mBIoU`` in ``[0, 1]``.

    Raises:
        FileNotFoundError: A ground-truth map has no prediction.
        ValueError: A prediction's size differs from its ground truth's.
    """
    import glob

    from mmseg.evaluation import IoUMetric

    from mmpointrend.evaluation.boundary_iou_metric import boundary_stats

    preds = {}
    for path in glob.glob(osp.join(pred_dir, '*.png')):
        stem = osp.splitext(osp.splitext(osp.basename(path))[0])[0]
        preds[stem] = path
    area = np.zeros((num_classes, 2))
    band = np.zeros((num_classes, 2))
    for gt_path in sorted(glob.glob(osp.join(gt_dir, '*.png'))):
        stem = osp.splitext(osp.basename(gt_path))[0]
        if stem not in preds:
            raise FileNotFoundError(
                f'no prediction for {gt_path} in {pred_dir} (looked for '
                f'{stem}.<ext>.png)'
            )
        gt = cv2.imread(gt_path, cv2.IMREAD_UNCHANGED).astype(np.int64)
        pred = cv2.imread(preds[stem], cv2.IMREAD_UNCHANGED).astype(np.int64)
        if gt.shape != pred.shape:
            raise ValueError(
                f'{preds[stem]} is {pred.shape[1]}x{pred.shape[0]}, its '
                f'ground truth {gt_path} {gt.shape[1]}x{gt.shape[0]}'
            )
        gt_t, pred_t = torch.from_numpy(gt), torch.from_numpy(pred)
        inter, union, _, _ = IoUMetric.intersect_and_union(
            pred_t, gt_t, num_classes, ignore_index
        )
        area += torch.stack([inter, union], 1).double().numpy()
        band += boundary_stats(pred_t, gt_t, num_classes, ignore_index).numpy()
    present = area[:, 1] > 0
    return dict(
        mIoU=float((area[present, 0] / area[present, 1]).mean()),
        mBIoU=float(
            (band[present, 0] / np.maximum(band[present, 1], 1)).mean()
        ),
    )


def study_table(
    results: list[dict], dataset: str, input_kind: str, keys: tuple
) -> list[str]:
    """Markdown rows: one per refiner seed, the median, and the verdict.

    Args:
        results (list[dict]): The study's records (``dataset``, ``input``,
            ``seed``, ``before`` and ``after`` metric dicts).
        dataset (str): Which dataset's rows.
        input_kind (str): Which input's rows.
        keys (tuple): ``(key, title)`` pairs of the columns.

    Returns:
        list[str]: Table lines, a blank line and the verdict line ("after >
        before on every seed"), empty when there are no records.
    """
    rows = sorted(
        (
            r
            for r in results
            if r['dataset'] == dataset and r['input'] == input_kind
        ),
        key=lambda r: r['seed'],
    )
    if not rows:
        return []
    lines = [
        '| refiner seed | '
        + ' | '.join(f'{t} before | {t} after' for _, t in keys)
        + ' |',
        '|---' * (1 + 2 * len(keys)) + '|',
    ]

    def cell(value: float | None) -> str:
        return 'n/a' if value is None else f'{100 * value:.1f}'

    for r in rows:
        cells = []
        for key, _ in keys:
            cells += [cell(r['before'].get(key)), cell(r['after'].get(key))]
        lines.append(f'| {r["seed"]} | ' + ' | '.join(cells) + ' |')
    cells = []
    for key, _ in keys:
        for side in ('before', 'after'):
            vals = [r[side][key] for r in rows if key in r[side]]
            cells.append(cell(statistics.median(vals) if vals else None))
    lines.append('| median | ' + ' | '.join(cells) + ' |')
    verdicts = []
    for key, title in keys:
        gains = [r['after'][key] - r['before'][key] for r in rows]
        spread = f'{100 * min(gains):+.2f} to {100 * max(gains):+.2f} points'
        if all(g > 0 for g in gains):
            verdict = f'higher on all {len(rows)} seeds ({spread})'
        elif all(g < 0 for g in gains):
            verdict = f'lower on all {len(rows)} seeds ({spread})'
        else:
            up = sum(g > 0 for g in gains)
            verdict = (
                f'higher on {up} of {len(rows)} seeds ({spread}; no claim)'
            )
        verdicts.append(f'{title} after refinement: {verdict}')
    return lines + ['', '; '.join(verdicts) + '.']


def _contours(canvas: np.ndarray, mask: np.ndarray, color, scale: int):
    """Draw the outline of ``mask`` (upscaled ``scale`` x) onto canvas."""
    big = cv2.resize(
        mask.astype(np.uint8),
        None,
        fx=scale,
        fy=scale,
        interpolation=cv2.INTER_NEAREST,
    )
    found, _ = cv2.findContours(big, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(canvas, found, -1, color, 2)


def best_crop(
    objects: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    margin: float = 0.3,
    min_side: int = 32,
) -> tuple[float, tuple[int, int, int, int]]:
    """The object whose surroundings refinement fixed most, and its crop.

    For each ground-truth object, the square around its box (grown by
    ``margin`` of its size, at least ``min_side``) counts the pixels wrong
    before and right after minus the reverse; the best object is
    returned, so a picture shows where refinement helped most (the tables
    say how typical that is).

    Args:
        objects (np.ndarray): (N, H, W) bool ground-truth objects.
        before (np.ndarray): (H, W) bool foreground before refinement.
        after (np.ndarray): (H, W) bool foreground after it.
        margin (float): Context around the box. Defaults to 0.3.
        min_side (int): Least crop side in pixels. Defaults to 32.

    Returns:
        tuple: The gain in pixels (-inf without objects) and the crop
        ``(y1, x1, y2, x2)``.
    """
    gt = objects.any(0) if len(objects) else np.zeros_like(before)
    height, width = gt.shape
    fixed = (before != gt) & (after == gt)
    broken = (before == gt) & (after != gt)
    best = (-np.inf, (0, 0, min(height, min_side), min(width, min_side)))
    for obj in objects:
        ys, xs = np.nonzero(obj)
        if len(ys) == 0:
            continue
        cy, cx = (ys.min() + ys.max() + 1) / 2, (xs.min() + xs.max() + 1) / 2
        side = max(np.ptp(ys) + 1, np.ptp(xs) + 1) * (1 + 2 * margin)
        side = int(min(max(side, min_side), height, width))
        y1 = int(np.clip(round(cy - side / 2), 0, height - side))
        x1 = int(np.clip(round(cx - side / 2), 0, width - side))
        crop = (slice(y1, y1 + side), slice(x1, x1 + side))
        gain = int(fixed[crop].sum()) - int(broken[crop].sum())
        if gain > best[0]:
            best = (float(gain), (y1, x1, y1 + side, x1 + side))
    return best


def picture(panels: list[dict], path: str, display: int = 320) -> None:
    """Before/after outlines over image crops, one panel per input.

    Args:
        panels (list[dict]): ``title``, ``image`` (H, W, 3) BGR uint8,
            ``gt``, ``before``, ``after`` ((H, W) bool foreground masks)
            and ``crop`` (``(y1, x1, y2, x2)``, from :func:`best_crop`).
        path (str): PNG to write.
        display (int): Side of each panel in pixels; crops are enlarged
            by an integer factor (nearest), so single pixels stay visible.
    """
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from mmpointrend.checkpoint.io import save_figure

    cols = min(3, len(panels))
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.4 * cols, 3.7 * rows), squeeze=False
    )
    for ax in axes.flat:
        ax.axis('off')
    for ax, panel in zip(axes.flat, panels):
        y1, x1, y2, x2 = panel['crop']
        crop = (slice(y1, y2), slice(x1, x2))
        scale = max(1, display // max(y2 - y1, x2 - x1))
        canvas = cv2.resize(
            panel['image'][crop],
            None,
            fx=scale,
            fy=scale,
            interpolation=cv2.INTER_NEAREST,
        )
        canvas = (0.6 * canvas).astype(np.uint8)  # outlines stand out
        _contours(canvas, panel['gt'][crop], (255, 255, 255), scale)
        _contours(canvas, panel['before'][crop], (60, 60, 230), scale)
        _contours(canvas, panel['after'][crop], (60, 200, 60), scale)
        ax.imshow(canvas[..., ::-1])
        ax.set_title(panel['title'], fontsize=9)
    fig.suptitle(
        'white: ground truth, red: before, green: after refinement',
        fontsize=10,
    )
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
    plt.close(fig)
