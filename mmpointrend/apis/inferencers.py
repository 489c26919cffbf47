"""Inferencers for PointRend models: mmseg's and mmdet's, zoo-aware.

They accept a zoo name (weights downloaded and verified by
:mod:`mmpointrend.hub`), a config path or a loaded config, read foreign
checkpoints through mmpointrend's safe, converting loader, refuse weights
that do not fit the model, and take class names from the config when the
checkpoint has none.
"""

from __future__ import annotations

from mmdet.apis import DetInferencer
from mmengine.config import Config
from mmseg.apis import MMSegInferencer
from torch import nn

from mmpointrend.checkpoint import zoo as hub
from mmpointrend.checkpoint.fit import check_checkpoint_fit

from .inference import config_dataset_meta


class _ZooMixin:
    """Zoo lookup and checked weight loading shared by both inferencers."""

    def _load_model_from_metafile(self, model: str) -> tuple[Config, str]:
        info = hub.get_model_info(model)
        return Config.fromfile(info.config), hub.download_checkpoint(info.name)

    def _load_weights_to_model(
        self, model: nn.Module, checkpoint: dict | None, cfg: Config | None
    ) -> None:
        if checkpoint is not None:
            check_checkpoint_fit(
                model, checkpoint.get('state_dict', checkpoint), min_fit=1.0
            )
        super()._load_weights_to_model(model, checkpoint, cfg)
        meta = (checkpoint or {}).get('meta', {}) or {}
        from_config = config_dataset_meta(cfg) if cfg is not None else None
        if (
            'dataset_meta' not in meta
            and 'CLASSES' not in meta
            and from_config
        ):
            # The checkpoint names no classes: the config's beat mmseg's
            # Cityscapes / mmdet's COCO defaults.
            model.dataset_meta = from_config


class PointRendSegInferencer(_ZooMixin, MMSegInferencer):
    """:class:`mmseg.apis.MMSegInferencer` for semantic PointRend.

    Writes overlays to ``out_dir/vis`` and label PNGs to ``out_dir/pred``.

    Args:
        model (str | Config): Zoo name, config path or config.
        weights (str, optional): Checkpoint; defaults to the zoo weights.
        device (str, optional): Device. Defaults to CUDA when available.
        **kwargs: Passed to :class:`mmseg.apis.MMSegInferencer`.
    """


class PointRendDetInferencer(_ZooMixin, DetInferencer):
    """:class:`mmdet.apis.DetInferencer` for instance PointRend.

    Writes overlays to ``out_dir/vis`` and COCO-style JSON with RLE masks to
    ``out_dir/preds`` (pass ``no_save_pred=False``).

    Args:
        model (str | Config): Zoo name, config path or config.
        weights (str, optional): Checkpoint; defaults to the zoo weights.
        device (str, optional): Device. Defaults to CUDA when available.
        **kwargs: Passed to :class:`mmdet.apis.DetInferencer`.
    """


def PointRendInferencer(model, weights=None, device=None, **kwargs):  # noqa: N802
    """The inferencer for a model's task (semantic or instance).

    Args:
        model (str | Config): Zoo name, config path or config.
        weights (str, optional): Checkpoint; defaults to the zoo weights.
        device (str, optional): Device.
        **kwargs: Passed to the task's inferencer.

    Returns:
        PointRendSegInferencer | PointRendDetInferencer: The inferencer.
    """
    config = model
    if isinstance(model, str):
        config = Config.fromfile(hub.resolve(model)[0])
    cls = (
        PointRendDetInferencer
        if 'roi_head' in config.model
        else PointRendSegInferencer
    )
    return cls(model, weights=weights, device=device, **kwargs)
