"""ONNX export through ``torch.export`` (the dynamo exporter, opset 18).

The exported graph is the model's own ``mode='tensor'`` forward: the shared
subdivision renderer runs inside it with the configured number of steps
and points, fixed at export time, so there is no second copy of the
algorithm to keep in step.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

#: ``grid_sample`` needs opset 16; the dynamo exporter emits opset 18.
DEFAULT_OPSET = 18
#: TensorRT's TopK accepts k <= 3840.
TENSORRT_MAX_TOPK = 3840


class SegmentorExporter(nn.Module):
    """Image tensor -> (logits, labels) of a semantic PointRend segmentor.

    Args:
        model (nn.Module): A :class:`PointRendEncoderDecoder` in eval mode.
        with_logits (bool): Also return the logits. Defaults to True.
    """

    def __init__(self, model: nn.Module, with_logits: bool = True) -> None:
        super().__init__()
        self.model = model
        self.with_logits = with_logits

    def forward(self, image: Tensor) -> tuple[Tensor, ...]:
        """Render the segmentation of normalised images.

        Args:
            image (Tensor): (B, 3, H, W) images, normalised as the model's
                data preprocessor does (mean/std, channel order).

        Returns:
            tuple[Tensor, ...]: (B, K, H, W) logits (when ``with_logits``)
            and (B, H, W) int64 labels as mmseg's ``postprocess_result``
            gives them (a single-channel sigmoid model: probability above
            the head's ``threshold``).
        """
        logits = self.model(image, mode='tensor')
        if logits.shape[1] == 1:
            threshold = self.model.decode_head.threshold
            labels = (logits[:, 0].sigmoid() > threshold).long()
        else:
            labels = logits.argmax(dim=1)
        return (logits, labels) if self.with_logits else (labels,)


def limit_points(model: nn.Module, max_points: int | None) -> int:
    """Cap the points re-predicted per subdivision step.

    Args:
        model (nn.Module): A semantic PointRend segmentor.
        max_points (int, optional): Largest ``N`` (e.g. 3840 for TensorRT's
            TopK); None keeps the config's value.

    Returns:
        int: The ``N`` the model now renders with.
    """
    point_head = model.decode_head[-1]
    settings = point_head.subdivision_settings(model.test_cfg)
    num_points = settings.num_points
    if max_points is not None:
        if max_points < 1:
            raise ValueError(f'max_points must be >= 1, got {max_points}')
        num_points = min(num_points, max_points)
    model.test_cfg['subdivision_num_points'] = num_points
    return num_points


def export_segmentor(
    model: nn.Module,
    out: str,
    shape: tuple[int, int],
    *,
    dynamic_batch: bool = False,
    max_points: int | None = None,
    opset: int = DEFAULT_OPSET,
    with_logits: bool = True,
) -> str:
    """Export a semantic PointRend segmentor to an ONNX file.

    The spatial size is fixed (the subdivision plan depends on it); the
    batch size can be left dynamic.

    Args:
        model (nn.Module): A :class:`PointRendEncoderDecoder`.
        out (str): Output ``.onnx`` path.
        shape (tuple[int, int]): Input ``(H, W)``.
        dynamic_batch (bool): Export with a dynamic batch axis.
        max_points (int, optional): See :func:`limit_points`.
        opset (int): ONNX opset (>= 16 for ``grid_sample``). Defaults to 18.
        with_logits (bool): Export the logits output too.

    Returns:
        str: ``out``.
    """
    model = model.eval()
    limit_points(model, max_points)
    dynamic_shapes = None
    if dynamic_batch:
        dynamic_shapes = {'image': {0: torch.export.Dim('batch', min=1)}}
    return _export(
        SegmentorExporter(model, with_logits),
        torch.zeros(2 if dynamic_batch else 1, 3, *shape),
        out,
        opset,
        ['logits', 'labels'] if with_logits else ['labels'],
        dynamic_shapes=dynamic_shapes,
    )


def export_detector(
    model: nn.Module,
    out: str,
    shape: tuple[int, int],
    *,
    opset: int = DEFAULT_OPSET,
) -> str:
    """Export Mask R-CNN + PointRend to an ONNX file.

    Input ``image`` (1, 3, H, W), normalised; outputs ``boxes`` (n, 4) in
    input pixels, ``scores`` (n,), ``labels`` (n,) int64 and ``masks``
    (n, M, M) probabilities inside each box (M = 224 by default), with n
    from 0 to ``test_cfg.rcnn.max_per_img``. See
    :class:`~mmpointrend.deploy.detector_export.DetectorExporter`.

    Args:
        model (nn.Module): An mmdet detector with a PointRend RoI head.
        out (str): Output ``.onnx`` path.
        shape (tuple[int, int]): Input ``(H, W)`` (fixed).
        opset (int): ONNX opset (>= 16). Defaults to 18.

    Returns:
        str: ``out``.
    """
    from .detector_export import DetectorExporter, onnx_translations

    return _export(
        DetectorExporter(model.eval(), shape),
        torch.zeros(1, 3, *shape),
        out,
        opset,
        ['boxes', 'scores', 'labels', 'masks'],
        custom_translation_table=onnx_translations(),
    )


def _export(
    wrapper: nn.Module,
    image: Tensor,
    out: str,
    opset: int,
    output_names: list[str],
    **options,
) -> str:
    """``torch.onnx.export`` (dynamo) of ``wrapper(image)`` to ``out``."""
    if opset < 16:
        raise ValueError(
            f'opset {opset} has no GridSample with bilinear sampling; use '
            'opset >= 16'
        )
    from mmpointrend.checkpoint.io import replacing

    with torch.no_grad(), replacing(out, suffix='.onnx') as tmp:
        torch.onnx.export(
            wrapper.eval(),
            (image,),
            tmp,
            dynamo=True,
            opset_version=opset,
            input_names=['image'],
            output_names=output_names,
            external_data=False,
            verbose=False,
            **options,
        )
    return out
