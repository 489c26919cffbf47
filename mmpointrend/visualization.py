"""Pictures of adaptive subdivision (paper Fig. 1 bottom and Fig. 9).

For a semantic model: the coarse prediction and the label map after every
subdivision step, blended over the network input, with the points
re-predicted at that step drawn on top. For an instance model: per
detection, the box crop, the coarse 7x7 probabilities and each step up to
224x224 with its points.
"""

from __future__ import annotations

import os
import os.path as osp

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from torch import Tensor

from .apis.inference import init_model
from .checkpoint.io import write_image
from .models.utils import cell_centers, class_channel


def load_model(
    config: str,
    checkpoint: str | None,
    device: str = 'cpu',
    cfg_options: dict | None = None,
):
    """:func:`mmpointrend.apis.init_model`, and the config beside it.

    With a checkpoint every weight must come from it, as for evaluation;
    without one the model keeps its initialisation (pictures of an
    untrained renderer).

    Args:
        config (str): Config path (or ``pkg::path``) or zoo name.
        checkpoint (str, optional): Weights; None keeps the initialisation.
        device (str): Device. Defaults to ``'cpu'``.
        cfg_options (dict, optional): Config overrides.

    Returns:
        tuple: The model (eval mode) and its config.
    """
    model = init_model(config, checkpoint, device, cfg_options)
    if checkpoint is None:
        model.init_weights()
    return model, model.cfg


def prepare_image(cfg: Config, model, image: str):
    """Run the config's test pipeline (without annotations) on one image.

    Args:
        cfg (Config): Model config.
        model: The model (for its data preprocessor).
        image (str): Image path.

    Returns:
        tuple: (1, 3, H, W) network input, its data samples, and the padded
        BGR uint8 input image as the model sees it.
    """
    if not osp.isfile(image):
        raise FileNotFoundError(f'image {image} does not exist')
    steps = [
        t
        for t in cfg.test_dataloader.dataset.pipeline
        if 'Annotations' not in t['type']  # LoadAnnotations and ours
    ]
    pipeline = Compose(steps)
    data = pipeline(dict(img_path=image, img_id=0))
    raw = data['inputs'].permute(1, 2, 0).numpy().copy()
    batch = model.data_preprocessor(
        dict(inputs=[data['inputs']], data_samples=[data['data_samples']]),
        False,
    )
    inputs, samples = batch['inputs'], batch['data_samples']
    height, width = inputs.shape[-2:]
    padded = np.zeros((height, width, 3), np.uint8)
    padded[: raw.shape[0], : raw.shape[1]] = raw[..., :3]
    return inputs, samples, padded


def _palette(num: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    colours = rng.integers(40, 255, size=(num, 3), dtype=np.uint8)
    colours[0] = (0, 0, 0)
    return colours


def _draw_points(canvas: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Dots at normalized (x, y) points on a canvas."""
    height, width = canvas.shape[:2]
    radius = max(1, round(min(height, width) / 256))
    for x, y in points:
        cv2.circle(
            canvas,
            (int(x * width), int(y * height)),
            radius,
            (0, 0, 255),
            -1,
            lineType=cv2.LINE_AA,
        )
    return canvas


def caption(canvas: np.ndarray, text: str) -> np.ndarray:
    """Write ``text`` in the top-left corner of a BGR picture (in place).

    Args:
        canvas (np.ndarray): (H, W, 3) uint8 picture.
        text (str): Caption, white with a black outline.

    Returns:
        np.ndarray: ``canvas``.
    """
    cv2.putText(
        canvas, text, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 3
    )
    cv2.putText(
        canvas,
        text,
        (6, 20),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.55,
        (255, 255, 255),
        1,
    )
    return canvas


def _record(store: list):
    def on_step(logits: Tensor, idx: Tensor | None) -> None:
        store.append((logits.detach().clone(), None if idx is None else idx))

    return on_step


@torch.no_grad()
def semantic_steps(model, inputs: Tensor) -> tuple[Tensor, list]:
    """Coarse logits and (logits, re-predicted cells) of every step.

    Args:
        model: A :class:`PointRendEncoderDecoder`.
        inputs (Tensor): (1, 3, H, W) network input.

    Returns:
        tuple: (1, K, h, w) coarse logits and the recorded steps.
    """
    feats = model.extract_feat(inputs)
    coarse = model.decode_head[0].forward(feats)
    steps: list = []
    model.decode_head[1].forward(
        feats, coarse, model.test_cfg, on_step=_record(steps)
    )
    return coarse, steps


def draw_semantic(
    image: np.ndarray, coarse: Tensor, steps: list, out_dir: str
) -> list[str]:
    """Write one PNG per stage and a strip of all stages.

    Args:
        image (np.ndarray): (H, W, 3) BGR network input.
        coarse (Tensor): (1, K, h, w) coarse logits.
        steps (list): Recorded ``(logits, idx)`` steps.
        out_dir (str): Output folder.

    Returns:
        list[str]: Written files.
    """
    os.makedirs(out_dir, exist_ok=True)
    height, width = image.shape[:2]
    palette = _palette(max(coarse.shape[1], 2))
    stages = [('coarse', coarse, None)] + [
        (f'step {i + 1}', logits, idx) for i, (logits, idx) in enumerate(steps)
    ]
    files, panels = [], []
    for i, (name, logits, idx) in enumerate(stages):
        labels = (
            logits[0].argmax(0)
            if logits.shape[1] > 1
            else (logits[0, 0] > 0).long()
        )
        h, w = labels.shape
        colour = palette[labels.cpu().numpy()]
        colour = cv2.resize(colour, (width, height), cv2.INTER_NEAREST)
        panel = cv2.addWeighted(image, 0.45, colour, 0.55, 0)
        if idx is not None:
            pts = cell_centers(idx[0], h, w).cpu().numpy()
            panel = _draw_points(panel, pts)
        text = f'{name}: {h}x{w}'
        if idx is not None:
            text += f', {idx.shape[1]} points'
        panel = caption(panel, text)
        path = osp.join(out_dir, f'semantic_{i}_{name.replace(" ", "")}.png')
        write_image(path, panel)
        files.append(path)
        panels.append(cv2.resize(panel, (width // 2, height // 2)))
    strip = osp.join(out_dir, 'semantic_subdivision.png')
    write_image(strip, np.concatenate(panels, axis=1))
    return files + [strip]


@torch.no_grad()
def instance_steps(model, inputs: Tensor, samples, max_dets: int):
    """Detections, their coarse masks and every subdivision step.

    Args:
        model: A detector with :class:`PointRendMaskRoIHead`.
        inputs (Tensor): (1, 3, H, W) network input.
        samples (list): Its data samples.
        max_dets (int): Keep the highest-scoring detections.

    Returns:
        tuple: boxes (n, 4) in input pixels, labels, coarse logits
        (n, K, 7, 7) and the recorded steps.
    """
    from mmdet.structures.bbox import bbox2roi

    # One backbone pass: the detector's own steps up to the boxes, then
    # the mask render with an observer (model.predict would render too).
    feats = model.extract_feat(inputs)
    proposals = model.rpn_head.predict(feats, samples, rescale=False)
    pred = model.roi_head.predict_bbox(
        feats,
        [s.metainfo for s in samples],
        proposals,
        rcnn_test_cfg=model.roi_head.test_cfg,
        rescale=False,
    )[0]
    keep = pred.scores.argsort(descending=True)[:max_dets]
    boxes, labels = pred.bboxes[keep], pred.labels[keep]

    rois = bbox2roi([boxes])
    steps: list = []
    if len(boxes) == 0:
        return boxes, labels, None, steps
    coarse, _ = model.roi_head.refine_masks(
        feats, rois, labels, on_step=_record(steps)
    )
    return boxes, labels, coarse, steps


def draw_instance(
    image: np.ndarray,
    boxes: Tensor,
    labels: Tensor,
    coarse: Tensor | None,
    steps: list,
    out_dir: str,
    size: int = 224,
) -> list[str]:
    """One PNG row per detection: crop, coarse 7x7, every step.

    Args:
        image (np.ndarray): (H, W, 3) BGR network input.
        boxes (Tensor): (n, 4) boxes in input pixels.
        labels (Tensor): (n,) classes.
        coarse (Tensor, optional): (n, K, 7, 7) coarse logits. Implicit
            PointRend has no coarse mask (its first step renders the 28x28
            grid): its (n, num_params) parameters draw no coarse panel.
        steps (list): Recorded ``(logits (n, 1, M, M), idx)`` steps.
        out_dir (str): Output folder.
        size (int): Panel side. Defaults to 224.

    Returns:
        list[str]: Written files.
    """
    os.makedirs(out_dir, exist_ok=True)
    files = []
    if coarse is not None and coarse.dim() != 4:
        coarse = None  # predicted MLP parameters, not a mask
    channels = (
        class_channel(labels, coarse.shape[1]).tolist()
        if coarse is not None
        else [None] * len(labels)
    )
    for r, (box, label) in enumerate(zip(boxes.tolist(), labels.tolist())):
        channel = channels[r]
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
        crop = np.zeros((y1 - y0, x1 - x0, 3), np.uint8)
        src = image[max(y0, 0) : y1, max(x0, 0) : x1]
        crop[
            max(-y0, 0) : max(-y0, 0) + src.shape[0],
            max(-x0, 0) : max(-x0, 0) + src.shape[1],
        ] = src
        panels = [caption(cv2.resize(crop, (size, size)), f'class {label}')]
        maps = (
            [('coarse', coarse[r : r + 1, channel : channel + 1], None)]
            if coarse is not None
            else []
        )
        maps += [
            (f'step {i + 1}', logits[r : r + 1], idx)
            for i, (logits, idx) in enumerate(steps)
        ]
        for name, logits, idx in maps:
            prob = logits[0, 0].sigmoid().cpu().numpy()
            m = prob.shape[0]
            panel = cv2.resize(
                (prob * 255).astype(np.uint8), (size, size), cv2.INTER_NEAREST
            )
            panel = cv2.cvtColor(panel, cv2.COLOR_GRAY2BGR)
            if idx is not None:
                pts = cell_centers(idx[r], m, m).cpu().numpy()
                panel = _draw_points(panel, pts)
            panels.append(caption(panel, f'{name} {m}x{m}'))
        path = osp.join(out_dir, f'instance_{r}.png')
        write_image(path, np.concatenate(panels, axis=1))
        files.append(path)
    return files


@torch.no_grad()
def predict_overlay(model, cfg: Config, image: str) -> np.ndarray:
    """The model's prediction blended over the input (for comparisons).

    Args:
        model: Segmentor or detector.
        cfg (Config): Its config.
        image (str): Image path.

    Returns:
        np.ndarray: (H, W, 3) BGR picture.
    """
    inputs, samples, _ = prepare_image(cfg, model, image)
    result = model.predict(inputs, samples)[0]
    base = cv2.imread(image)  # predictions are at the original size
    if 'pred_sem_seg' in result:
        labels = result.pred_sem_seg.data[0].cpu().numpy()
        colour = _palette(int(labels.max()) + 2)[labels]
        return cv2.addWeighted(base, 0.45, colour, 0.55, 0)
    inst = result.pred_instances
    inst = inst[inst.scores > 0.3]
    palette = _palette(len(inst) + 2)
    for i, mask in enumerate(inst.masks.cpu().numpy()):
        blended = 0.45 * base[mask] + 0.55 * palette[i + 1]
        base[mask] = blended.astype(np.uint8)
    return base
