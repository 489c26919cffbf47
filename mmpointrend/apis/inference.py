"""Build a PointRend model from a config or zoo name and run it on images."""

from __future__ import annotations

import copy
import importlib
import os.path as osp
from collections.abc import Sequence
from typing import Any, Union

import numpy as np
from mmengine.config import Config
from torch import nn

from mmpointrend.checkpoint import zoo as hub
from mmpointrend.checkpoint.fit import load_checked_checkpoint

ImageType = Union[str, np.ndarray]


def resolve_config(spec: str, root: str | None = None) -> str:
    """File path of a config given as ``pkg::rel/path.py`` or a path.

    Args:
        spec (str): ``mmseg::point_rend/x.py`` style name (looked up in the
            package's bundled ``.mim/configs``), or a path.
        root (str, optional): Folder that relative paths start from.

    Returns:
        str: An existing file path.
    """
    if '::' in spec:
        package, rel = spec.split('::', 1)
        module = importlib.import_module(package)
        path = osp.join(osp.dirname(module.__file__), '.mim', 'configs', rel)
    else:
        path = spec if root is None else osp.join(root, spec)
    if not osp.isfile(path):
        raise FileNotFoundError(f'config {spec} not found (looked at {path})')
    return path


def is_detector_config(cfg: Config) -> bool:
    """Whether a config's model is an mmdet detector (instance task).

    Args:
        cfg (Config): A loaded config.

    Returns:
        bool: True for detectors (a ``roi_head``), False for segmentors.
    """
    return 'roi_head' in cfg.model or cfg.get('default_scope') == 'mmdet'


def build_model(config, cfg_options: dict | None = None):
    """Build the segmentor or detector of a config, without weights.

    The host library (mmdet when the model has a ``roi_head``, else mmseg)
    becomes the default scope; ``pretrained``/backbone ``init_cfg`` are
    dropped (nothing is downloaded) and SyncBN becomes BN so the model runs
    in a single process.

    Args:
        config (str | Config): Config path (or ``pkg::path``), or a loaded
            config.
        cfg_options (dict, optional): Overrides merged into the config.

    Returns:
        tuple: The model and the (possibly updated) config.
    """
    from mmengine.model.utils import revert_sync_batchnorm
    from mmengine.registry import init_default_scope

    cfg = (
        copy.deepcopy(config)
        if isinstance(config, Config)
        else Config.fromfile(resolve_config(config))
    )
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if is_detector_config(cfg):
        from mmdet.registry import MODELS

        init_default_scope('mmdet')
    else:
        from mmseg.registry import MODELS

        init_default_scope('mmseg')
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.pop('pretrained', None)
    model_cfg.backbone.pop('init_cfg', None)
    return revert_sync_batchnorm(MODELS.build(model_cfg)), cfg


def config_dataset_meta(cfg: Config) -> dict | None:
    """Class names and palette from a config's test dataset, if it has them.

    Args:
        cfg (Config): A loaded config.

    Returns:
        dict | None: ``{'classes', 'palette'}`` or None.
    """
    dataset = cfg.get('test_dataloader', {}).get('dataset', {})
    metainfo = dataset.get('metainfo') or {}
    if 'classes' not in metainfo:
        return None
    return dict(
        classes=tuple(metainfo['classes']), palette=metainfo.get('palette')
    )


def init_model(
    model: str | Config,
    checkpoint: str | None = None,
    device: str = 'cpu',
    cfg_options: dict | None = None,
) -> nn.Module:
    """A ready-to-run model from a zoo name or a config.

    Args:
        model (str | Config): Zoo model name (:func:`mmpointrend.hub.
            list_models`), config path, or loaded config.
        checkpoint (str, optional): Weights (path or URL) in mmpointrend's,
            mmseg's, mmdet's or detectron2's layout. Defaults to the zoo
            weights for a zoo name (downloaded and verified), else none.
        device (str): ``'cpu'`` or ``'cuda'`` / ``'cuda:N'``. Defaults to
            ``'cpu'``.
        cfg_options (dict, optional): Config overrides.

    Returns:
        nn.Module: The model in eval mode, with ``cfg`` and ``dataset_meta``.
    """
    if isinstance(model, str):
        config, _, info = hub.resolve(model)
        if checkpoint is None and info is not None:
            checkpoint = hub.download_checkpoint(info.name)
    else:
        config = model
    net, cfg = build_model(config, cfg_options)
    meta: dict[str, Any] = {}
    if checkpoint is not None:
        # An evaluated model must get every weight from the checkpoint.
        loaded = load_checked_checkpoint(net, checkpoint, min_fit=1.0)
        meta = loaded.get('meta', {}) or {}
    dataset_meta = meta.get('dataset_meta')
    if dataset_meta is None and 'CLASSES' in meta:
        dataset_meta = dict(
            classes=meta['CLASSES'], palette=meta.get('PALETTE')
        )
    net.dataset_meta = dataset_meta or config_dataset_meta(cfg) or {}
    net.cfg = cfg
    return net.to(device).eval()


def inference_model(model: nn.Module, images: ImageType | Sequence[ImageType]):
    """Predict with a model from :func:`init_model`.

    Args:
        model (nn.Module): The model.
        images (str | np.ndarray | Sequence): Image path(s) or BGR array(s).

    Returns:
        SegDataSample | DetDataSample | list: One result per image (a list
        when ``images`` is a list).
    """
    if is_detector_config(model.cfg):
        from mmdet.apis import inference_detector

        return inference_detector(model, images)
    from mmseg.apis import inference_model as seg_inference

    return seg_inference(model, images)
