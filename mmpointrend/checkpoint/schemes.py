"""Every MMEngine checkpoint scheme, loaded through :mod:`.loading`.

MMEngine's ``CheckpointLoader`` maps path prefixes (``''`` for local files,
``http://``, ``open-mmlab://``, ``mmcls://``, ``torchvision://``,
``s3://``, ``pavi://`` ...) to loaders that unpickle fully. This module has
a safe counterpart for each (:data:`SAFE_SCHEMES`): names resolve through
MMEngine's own indexes, files are downloaded with the model zoo's verified
download (:mod:`.zoo`), foreign PointRend layouts are converted on load
(:mod:`.foreign`), and every byte is read by
:func:`.loading.load_checkpoint_file`.
:func:`register_checkpoint_loaders` is the one place that installs them;
``import mmpointrend`` calls it.
"""

from __future__ import annotations

import os
import os.path as osp
import warnings
from typing import Any

import torch

from . import zoo
from .foreign import convert_foreign_checkpoint
from .loading import (
    CorruptCheckpointError,
    UnsafeCheckpointError,
    _mmengine_globals,
    _parse,
    check_plain_data,
    load_checkpoint_file,
)


def load_from_safe_http(
    url: str,
    map_location: str | torch.device | None = None,
    model_dir: str | None = None,
) -> Any:
    """MMEngine's http(s) scheme: download to the hub cache, load safely.

    Zoo files go through the model zoo's verified download. Any other URL
    is downloaded to a temporary file beside its cache entry, loaded (so a
    truncated, corrupt or unsafe file never enters the cache), then renamed.
    A cached file that turns out corrupt is downloaded again.

    Args:
        url (str): http(s) URL.
        map_location (str, optional): As in ``torch.load``.
        model_dir (str, optional): Download folder; defaults to torch hub's
            ``checkpoints`` folder (where MMEngine and torch look too).

    Returns:
        Any: The loaded checkpoint.
    """
    from urllib.parse import urlparse

    from torch.hub import get_dir

    for info in zoo.load_model_index().values():
        if info.weights == url:  # a zoo file: verified download
            return load_from_safe_local(
                zoo.download_checkpoint(info.name, folder=model_dir),
                map_location=map_location,
            )

    model_dir = model_dir or osp.join(get_dir(), 'checkpoints')
    name = osp.basename(urlparse(url).path)
    if not name:
        raise ValueError(
            f'{url} names no file; give the URL of the checkpoint itself'
        )
    cached = osp.join(model_dir, name)
    if osp.isfile(cached):
        try:
            return load_from_safe_local(cached, map_location=map_location)
        except CorruptCheckpointError as exc:
            warnings.warn(
                f'{cached} is corrupt ({exc}); downloading {url} again',
                stacklevel=2,
            )
    try:
        checkpoint = zoo.download_to(
            url,
            cached,
            lambda tmp: load_checkpoint_file(tmp, map_location),
            progress=True,
        )
    except zoo.DownloadError as exc:
        raise zoo.DownloadError(
            f'could not download {url} ({exc}); nothing was written to '
            f'{cached}. Without network, fetch the file elsewhere and put '
            'it there.'
        ) from None
    except (UnsafeCheckpointError, CorruptCheckpointError) as exc:
        raise type(exc)(
            f'downloaded from {url}: {exc} Nothing was kept in {model_dir}.'
        ) from None
    return convert_foreign_checkpoint(checkpoint, name)


def load_from_safe_local(
    filename: str, map_location: str | torch.device | None = None
) -> Any:
    """:func:`load_checkpoint_file`, then foreign layouts converted.

    mmseg, mmdet and detectron2 PointRend checkpoints are recognised by
    their keys and converted to mmpointrend's in memory
    (:func:`mmpointrend.checkpoint.foreign.convert_foreign_checkpoint`), so
    ``tools/test.py``, ``load_from`` and the inference API take them as
    published.

    Args:
        filename (str): Path of the file.
        map_location (str | torch.device, optional): As in ``torch.load``.

    Returns:
        Any: The (converted) checkpoint.
    """
    checkpoint = load_checkpoint_file(filename, map_location)
    return convert_foreign_checkpoint(checkpoint, osp.basename(filename))


def _mmengine_home_file(filename: str, relative: str) -> str:
    from mmengine.runner.checkpoint import _get_mmengine_home

    path = osp.join(_get_mmengine_home(), relative)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{filename} resolves to {path}, which does not exist'
        )
    return path


def _lookup(
    table: dict, filename: str, index: str, alias: dict | None = None
) -> str:
    """The URL (or MMEngine-home path) a ``scheme://NAME`` path names.

    Args:
        table (dict): MMEngine's index of the scheme, ``name -> URL``.
        filename (str): The scheme path.
        index (str): The index's name, for the message.
        alias (dict, optional): Deprecated names and their successors.

    Returns:
        str: The URL or path.

    Raises:
        KeyError: An unknown name, with the closest known ones.
    """
    name = filename.split('://', 1)[1]
    name = (alias or {}).get(name, name)
    if name in table:
        return table[name]
    import difflib

    close = difflib.get_close_matches(name, list(table), n=3)
    hint = f' Did you mean {", ".join(close)}?' if close else ''
    raise KeyError(
        f'{filename}: the {index} index has no model {name!r}.{hint}'
    )


def load_from_safe_openmmlab(
    filename: str, map_location: str | torch.device | None = None
) -> Any:
    """``open-mmlab://NAME`` / ``openmmlab://NAME``, loaded safely.

    The name resolves through MMEngine's own index (and its deprecated
    names); the file is then downloaded or read as any URL or path is.

    Args:
        filename (str): The scheme path.
        map_location (str, optional): As in ``torch.load``.

    Returns:
        Any: The loaded checkpoint.
    """
    from mmengine.runner.checkpoint import (
        get_deprecated_model_names,
        get_external_models,
    )

    url = _lookup(
        get_external_models(),
        filename,
        "MMEngine's open-mmlab",
        get_deprecated_model_names(),
    )
    if url.startswith(('http://', 'https://')):
        return load_from_safe_http(url, map_location)
    return load_from_safe_local(
        _mmengine_home_file(filename, url), map_location
    )


def load_from_safe_torchvision(
    filename: str, map_location: str | torch.device | None = None
) -> Any:
    """``torchvision://NAME`` (and ``modelzoo://NAME``), loaded safely.

    Args:
        filename (str): The scheme path.
        map_location (str, optional): As in ``torch.load``.

    Returns:
        Any: The loaded checkpoint.
    """
    from mmengine.runner.checkpoint import get_torchvision_models

    url = _lookup(get_torchvision_models(), filename, 'torchvision')
    return load_from_safe_http(url, map_location)


def load_from_safe_mmcls(
    filename: str, map_location: str | torch.device | None = None
) -> Any:
    """``mmcls://NAME``, loaded safely and renamed as MMEngine does.

    Args:
        filename (str): The scheme path.
        map_location (str, optional): As in ``torch.load``.

    Returns:
        Any: The loaded checkpoint, backbone keys as MMEngine renames them.
    """
    from mmengine.runner.checkpoint import (
        _process_mmcls_checkpoint,
        get_mmcls_models,
    )

    url = _lookup(get_mmcls_models(), filename, "MMEngine's mmcls")
    return _process_mmcls_checkpoint(load_from_safe_http(url, map_location))


def _load_bytes(
    data: bytes, name: str, map_location: str | torch.device | None
) -> Any:
    """Load a checkpoint held in memory through the file loader."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = osp.join(folder, osp.basename(name) or 'checkpoint.pth')
        with open(path, 'wb') as f:
            f.write(data)
        return load_from_safe_local(path, map_location)


def load_from_safe_ceph(
    filename: str,
    map_location: str | torch.device | None = None,
    backend: str = 'petrel',
) -> Any:
    """``s3://`` / ``petrel://`` paths via MMEngine's backend, loaded safely.

    Args:
        filename (str): The path.
        map_location (str, optional): As in ``torch.load``.
        backend (str): MMEngine file backend. Defaults to ``'petrel'``.

    Returns:
        Any: The loaded checkpoint.
    """
    from mmengine.fileio import get_file_backend

    data = get_file_backend(filename, backend_args={'backend': backend}).get(
        filename
    )
    return _load_bytes(data, filename, map_location)


def load_from_safe_pavi(
    filename: str, map_location: str | torch.device | None = None
) -> Any:
    """``pavi://`` model-cloud files, downloaded and loaded safely.

    Args:
        filename (str): The scheme path.
        map_location (str, optional): As in ``torch.load``.

    Returns:
        Any: The loaded checkpoint.
    """
    import tempfile

    try:
        from pavi import modelcloud
    except ImportError:
        raise ImportError(
            f'{filename}: install pavi to load checkpoints from its model '
            'cloud'
        ) from None
    model = modelcloud.get(filename[len('pavi://') :])
    with tempfile.TemporaryDirectory() as folder:
        path = osp.join(folder, model.name)
        model.download(path)
        return load_from_safe_local(path, map_location)


def _weights_only_wrapper(loader: Any) -> Any:
    """Run a scheme loader this module does not know with torch forced safe.

    A scheme another package registers after ``import mmpointrend`` is
    replaced by this wrapper at the next registration; inside it every
    ``torch.load`` is weights-only whatever its arguments say.
    """

    def load_from_forced_weights_only(
        filename: str, map_location: str | torch.device | None = None
    ) -> Any:
        previous = os.environ.get('TORCH_FORCE_WEIGHTS_ONLY_LOAD')
        os.environ['TORCH_FORCE_WEIGHTS_ONLY_LOAD'] = '1'
        try:
            with torch.serialization.safe_globals(_mmengine_globals()):
                checkpoint = _parse(
                    filename, lambda: loader(filename, map_location)
                )
        finally:
            if previous is None:
                os.environ.pop('TORCH_FORCE_WEIGHTS_ONLY_LOAD', None)
            else:
                os.environ['TORCH_FORCE_WEIGHTS_ONLY_LOAD'] = previous
        check_plain_data(checkpoint, filename)
        return checkpoint

    load_from_forced_weights_only.wrapped = loader  # type: ignore[attr-defined]
    return load_from_forced_weights_only


#: MMEngine 0.10's scheme prefixes and the loader that replaces each.
SAFE_SCHEMES: dict[str, Any] = {
    '': load_from_safe_local,
    'http://': load_from_safe_http,
    'https://': load_from_safe_http,
    'open-mmlab://': load_from_safe_openmmlab,
    'openmmlab://': load_from_safe_openmmlab,
    'torchvision://': load_from_safe_torchvision,
    'modelzoo://': load_from_safe_torchvision,
    'mmcls://': load_from_safe_mmcls,
    r'(\S+\:)?s3://': load_from_safe_ceph,
    r'(\S+\:)?petrel://': load_from_safe_ceph,
    'pavi://': load_from_safe_pavi,
}


def register_checkpoint_loaders() -> None:
    """Make every MMEngine checkpoint scheme load through this module.

    The one place where mmpointrend touches MMEngine's ``CheckpointLoader``;
    idempotent. MMEngine's own schemes are replaced by the safe loaders in
    :data:`SAFE_SCHEMES`; a scheme registered by another package is wrapped
    so that its ``torch.load`` calls are weights-only. Covers
    ``load_from``, ``--resume``, ``init_cfg=dict(type='Pretrained', ...)``,
    ``load_checkpoint`` and therefore mmseg's ``init_model`` and mmdet's
    ``init_detector``.
    """
    from mmengine.runner.checkpoint import CheckpointLoader

    for prefix, loader in SAFE_SCHEMES.items():
        CheckpointLoader.register_scheme(prefix, loader=loader, force=True)
    for prefix, loader in list(CheckpointLoader._schemes.items()):
        if getattr(loader, '__module__', None) != __name__:
            CheckpointLoader.register_scheme(
                prefix, loader=_weights_only_wrapper(loader), force=True
            )
