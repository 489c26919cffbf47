"""``export_onnx --verify``: an exported file against PyTorch, with a verdict.

The file is run in onnxruntime on a random normalised image and compared
with the same export wrapper run eagerly in PyTorch. Tolerances (stated in
docs/deployment.md):

* semantic: logits within :data:`LOGIT_TOL` of the larger of 1 and the
  largest |logit|, and labels equal, on all but :data:`MAX_DIFFERING` of
  the pixels (the last step's top-N may pick another of two cells whose
  uncertainties tie within rounding, and then that cell differs);
* instance: the same number of detections with the same labels, boxes
  within :data:`BOX_TOL` pixels and mask probabilities within
  :data:`LOGIT_TOL` on all but :data:`MAX_DIFFERING` of the mask cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

#: Largest |onnxruntime - PyTorch| of a logit or probability, relative to
#: max(1, largest magnitude).
LOGIT_TOL = 1e-3
#: Share of pixels / mask cells allowed beyond it (tied top-k selections).
MAX_DIFFERING = 1e-3
#: Largest box coordinate difference, in pixels.
BOX_TOL = 1e-2


@dataclass
class Verdict:
    """Whether the file matches, and the numbers that say so."""

    ok: bool
    message: str


def _outputs(
    wrapper: nn.Module, onnx_path: str, shape: tuple[int, int], seed: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The export wrapper's outputs in PyTorch and the file's in ORT."""
    import onnxruntime as ort

    gen = torch.Generator().manual_seed(seed)
    image = torch.randn(1, 3, *shape, generator=gen)
    with torch.no_grad():
        ref = [t.numpy() for t in wrapper.eval()(image)]
    got = ort.InferenceSession(onnx_path).run(None, {'image': image.numpy()})
    return ref, got


def _differing(got: np.ndarray, ref: np.ndarray) -> float:
    """Share of elements beyond :data:`LOGIT_TOL` (relative)."""
    scale = max(1.0, float(np.abs(ref).max(initial=0.0)))
    return float((np.abs(got - ref) > LOGIT_TOL * scale).mean())


def verify_segmentor(
    model: nn.Module, onnx_path: str, shape: tuple[int, int], seed: int = 0
) -> Verdict:
    """Compare an exported semantic model with PyTorch.

    Args:
        model (nn.Module): The :class:`PointRendEncoderDecoder` exported.
        onnx_path (str): The file.
        shape (tuple[int, int]): The input size it was exported for.
        seed (int): Seed of the random image. Defaults to 0.

    Returns:
        Verdict: ``ok`` within the module's tolerances.
    """
    from .onnx_export import SegmentorExporter

    (ref_logits, labels), got = _outputs(
        SegmentorExporter(model.eval()), onnx_path, shape, seed
    )
    diff = float(np.abs(got[0] - ref_logits).max())
    beyond = _differing(got[0], ref_logits)
    same = float((got[1] == labels).mean())
    ok = beyond <= MAX_DIFFERING and 1 - same <= MAX_DIFFERING
    return Verdict(
        ok,
        f'onnxruntime vs PyTorch: logits max |diff| {diff:.2e} '
        f'({beyond:.4%} of values beyond {LOGIT_TOL:g} x scale), labels '
        f'equal on {same:.4%} of pixels; '
        + ('within tolerance' if ok else 'OUTSIDE tolerance')
        + f' (at most {MAX_DIFFERING:.1%} may differ)',
    )


def verify_detector(
    model: nn.Module, onnx_path: str, shape: tuple[int, int], seed: int = 0
) -> Verdict:
    """Compare an exported Mask R-CNN + PointRend with PyTorch.

    Args:
        model (nn.Module): The detector exported.
        onnx_path (str): The file.
        shape (tuple[int, int]): The input size it was exported for.
        seed (int): Seed of the random image. Defaults to 0.

    Returns:
        Verdict: ``ok`` within the module's tolerances.
    """
    from .detector_export import DetectorExporter

    ref, got = _outputs(
        DetectorExporter(model.eval(), shape), onnx_path, shape, seed
    )
    count_ok = got[0].shape == ref[0].shape
    labels_ok = count_ok and np.array_equal(got[2], ref[2])
    box = (
        float(np.abs(got[0] - ref[0]).max(initial=0.0)) if count_ok else np.inf
    )
    beyond = _differing(got[3], ref[3]) if labels_ok else 1.0
    ok = labels_ok and box <= BOX_TOL and beyond <= MAX_DIFFERING
    return Verdict(
        ok,
        f'onnxruntime vs PyTorch: {len(got[0])} vs {len(ref[0])} '
        f'detections, same labels: {labels_ok}, box max |diff| {box:.2e} px '
        f'(tolerance {BOX_TOL:g}), {beyond:.4%} of mask cells beyond '
        f'{LOGIT_TOL:g}; '
        + ('within tolerance' if ok else 'OUTSIDE tolerance'),
    )
