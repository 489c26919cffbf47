"""Checkpoint loading that never runs code from a file unless told to.

A ``.pth`` file is a pickle, and unpickling can call any Python function the
file names. This module is the single place where mmpointrend reads
checkpoints, and it reads them safely by default:

* PyTorch/MMEngine files are read with ``torch.load(weights_only=True)``
  plus an allow-list of exactly the plain data types MMEngine itself writes
  (its message hub's :class:`HistoryBuffer`, numpy arrays and scalars).
  Everything a training run saves -- weights, optimizer, schedulers, message
  hub, RNG states -- loads under it, so ``--resume`` needs no opt-in.
* Plain pickles (detectron2's ``.pkl`` model zoo) are read by a restricted
  unpickler that builds numpy arrays and builtin containers only.
* Any other object is refused with :class:`UnsafeCheckpointError`, which
  names the offending global and the opt-in for a trusted file:
  ``--trust-checkpoint`` on the tools, or ``MMPOINTREND_TRUST_CHECKPOINTS=1``.
  The variable is parsed strictly: a value that is neither yes nor no is an
  error, never "off".

Importing :mod:`mmpointrend` registers :func:`load_checkpoint_file` as
MMEngine's loader for local paths and http(s) URLs. Before the import, torch
>= 2.6 already loads local files weights-only (and MMEngine's http loader
does not), so the import never makes loading less safe for other code.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import os.path as osp
import pickle
import re
import warnings
import zipfile
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

#: Environment variable that opts in to full unpickling of trusted files.
TRUST_ENV = 'MMPOINTREND_TRUST_CHECKPOINTS'
_YES = frozenset({'1', 'true', 'yes', 'on'})
_NO = frozenset({'', '0', 'false', 'no', 'off'})
#: The first object of torch's legacy (pre-1.6, non-zip) serialization.
_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

_trust_override: bool | None = None


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds an object that could run code when unpickled."""


class CorruptCheckpointError(RuntimeError):
    """A checkpoint file is empty, truncated or not a checkpoint at all."""


def trust_requested() -> bool:
    """Whether the user opted in to full unpickling of trusted files.

    The ``trusted_checkpoints()`` context (used by ``--trust-checkpoint``)
    wins over the environment variable.

    Returns:
        bool: True when ``MMPOINTREND_TRUST_CHECKPOINTS`` is a yes value
        (``1``, ``true``, ``yes``, ``on``) or the context is active.

    Raises:
        ValueError: The variable holds something that is neither yes nor no.
    """
    if _trust_override is not None:
        return _trust_override
    raw = os.environ.get(TRUST_ENV, '')
    value = raw.strip().lower()
    if value in _YES:
        return True
    if value in _NO:
        return False
    raise ValueError(
        f'{TRUST_ENV}={raw!r} is not understood; use 1/true/yes/on to load '
        'trusted checkpoints with a full unpickle, or 0/false/no/off (or '
        'unset it) for safe weights-only loading'
    )


@contextlib.contextmanager
def trusted_checkpoints(trust: bool = True) -> Iterator[None]:
    """Temporarily allow (or forbid) full unpickling, whatever the env says.

    Args:
        trust (bool): The policy inside the context. Defaults to True.

    Yields:
        None.
    """
    global _trust_override
    previous, _trust_override = _trust_override, trust
    try:
        yield
    finally:
        _trust_override = previous


def _numpy_core() -> Any:
    """The NumPy multiarray module, where array pickles point.

    Returns:
        module: ``numpy._core.multiarray`` (NumPy 2) or
        ``numpy.core.multiarray`` (NumPy 1).
    """
    name = (
        'numpy._core.multiarray'
        if int(np.__version__.split('.')[0]) >= 2
        else 'numpy.core.multiarray'
    )
    return importlib.import_module(name)


def _numpy_globals() -> list[Any]:
    """Numpy types a weights-only checkpoint may contain, under both names.

    Files written under NumPy 1 name ``numpy.core.multiarray``, under NumPy 2
    ``numpy._core.multiarray``; both must load whichever NumPy is installed.

    Returns:
        list: Objects and ``(object, qualified name)`` pairs for
        ``torch.serialization.safe_globals``.
    """
    core = _numpy_core()
    allowed: list[Any] = [np.ndarray, np.dtype]
    for prefix in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        allowed.append((core._reconstruct, f'{prefix}._reconstruct'))
        allowed.append((core.scalar, f'{prefix}.scalar'))
    allowed += [type(np.dtype(t)) for t in np.typecodes['All'] if t != 'O']
    return allowed


_BUFFER_STATISTICS = frozenset({'min', 'max', 'current', 'mean'})


def _history_buffer_method(owner: Any, name: str) -> Any:
    """Stand-in for ``getattr`` that resolves HistoryBuffer statistics only.

    Each pickled :class:`HistoryBuffer` carries its statistics methods
    (``min``, ``max``, ``current``, ``mean``), which pickle writes as
    ``getattr(HistoryBuffer, 'min')``. Allowing ``getattr`` itself would let
    a file reach any attribute; this accessor answers exactly those lookups.

    Args:
        owner (Any): The object ``getattr`` is applied to.
        name (str): The attribute name.

    Returns:
        Any: The statistics function.

    Raises:
        UnsafeCheckpointError: Any other lookup.
    """
    from mmengine.logging.history_buffer import HistoryBuffer

    if (
        owner is HistoryBuffer
        and isinstance(name, str)
        # the four built-ins are registered on first instantiation only
        and (
            name in _BUFFER_STATISTICS
            or name in HistoryBuffer._statistics_methods
        )
        and callable(getattr(HistoryBuffer, name, None))
    ):
        return getattr(HistoryBuffer, name)
    raise UnsafeCheckpointError(
        f'GLOBAL builtins.getattr applied to {owner!r}, {name!r} (only '
        'HistoryBuffer statistics are allowed)'
    )


def _mmengine_globals() -> list[Any]:
    """Every non-tensor type an MMEngine 0.10 training checkpoint holds.

    Returns:
        list: Allow-list for ``torch.serialization.safe_globals``.
    """
    from mmengine.logging.history_buffer import HistoryBuffer

    return [
        HistoryBuffer,
        (_history_buffer_method, 'builtins.getattr'),
        *_numpy_globals(),
    ]


# -- plain pickles (detectron2) ---------------------------------------------
#: ``module -> names`` that the restricted unpickler may resolve: numpy
#: arrays, dtypes and scalars, and builtin containers. Nothing else.
_PICKLE_ALLOWED = {
    'numpy.core.multiarray': {'_reconstruct', 'scalar'},
    'numpy._core.multiarray': {'_reconstruct', 'scalar'},
    'numpy': {'ndarray', 'dtype'},
    'collections': {'OrderedDict'},
    'builtins': {'set', 'frozenset', 'complex'},
    # bytes in protocol-2 pickles written by Python 3
    '_codecs': {'encode'},
}


class _WeightsUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals in ``_PICKLE_ALLOWED``."""

    def find_class(self, module: str, name: str) -> Any:
        if name in _PICKLE_ALLOWED.get(module, ()):
            if module.startswith('numpy') and module.endswith('multiarray'):
                return getattr(_numpy_core(), name)
            return getattr(importlib.import_module(module), name)
        if module == 'numpy.dtypes' or (
            module == 'numpy' and name.endswith('DType')
        ):
            value = getattr(importlib.import_module(module), name, None)
            if isinstance(value, type) and issubclass(value, np.dtype):
                return value
        raise UnsafeCheckpointError(f'GLOBAL {module}.{name}')


def _restricted_pickle_load(stream: io.BufferedIOBase) -> Any:
    """Unpickle numpy arrays and builtin containers only.

    Args:
        stream (io.BufferedIOBase): Binary stream at the start of a pickle.

    Returns:
        Any: The first object of the stream.
    """
    return _WeightsUnpickler(stream, encoding='latin1').load()


# -- the loader ---------------------------------------------------------------
_GLOBAL_RE = re.compile(r'GLOBAL ([\w.]+)')


def _unsafe_error(filename: str, exc: BaseException) -> UnsafeCheckpointError:
    found = _GLOBAL_RE.search(str(exc))
    what = found.group(1) if found else 'an object outside the allow-list'
    return UnsafeCheckpointError(
        f'refusing to load {filename}: it contains the Python global '
        f'{what}, which safe (weights-only) loading does not allow because '
        'unpickling it could run code. If you trust this file and its '
        'source, pass --trust-checkpoint to the tool or set '
        f'{TRUST_ENV}=1 (a full unpickle); otherwise re-save the weights '
        'from a trusted environment as a plain state dict.'
    )


def _check_file(filename: str) -> str:
    filename = osp.expanduser(filename)
    if not osp.exists(filename):
        raise FileNotFoundError(
            f'checkpoint {filename} does not exist; check the path given to '
            'load_from / --resume / the checkpoint argument'
        )
    if osp.isdir(filename):
        raise IsADirectoryError(
            f'checkpoint {filename} is a directory; give the .pth file inside '
            'it (e.g. the file named in its last_checkpoint)'
        )
    if osp.getsize(filename) == 0:
        raise CorruptCheckpointError(
            f'checkpoint {filename} is empty (0 bytes): a download or copy '
            'was interrupted. Delete it and fetch or save it again.'
        )
    return filename


def load_checkpoint_file(
    filename: str,
    map_location: str | torch.device | None = None,
) -> Any:
    """Load a checkpoint file without running code from it.

    Zip (``torch.save``) and legacy torch files are read weights-only with
    MMEngine's types allowed; other pickles (detectron2 ``.pkl``) with the
    restricted unpickler. With the trust opt-in (:func:`trust_requested`) a
    file that fails the safe path is fully unpickled, with a warning.

    Args:
        filename (str): Path of the file.
        map_location (str | torch.device, optional): As in ``torch.load``.

    Returns:
        Any: The loaded object (usually a dict).

    Raises:
        FileNotFoundError: No file at ``filename``.
        CorruptCheckpointError: Empty, truncated or not a checkpoint.
        UnsafeCheckpointError: The file names a global outside the
            allow-list and no opt-in was given.
    """
    filename = _check_file(filename)
    trust = trust_requested()  # a malformed variable fails before reading
    try:
        return _load_safely(filename, map_location)
    except UnsafeCheckpointError as exc:
        if not trust:
            raise _unsafe_error(filename, exc) from None
        warnings.warn(
            f'{filename} is outside the weights-only allow-list ({exc}); '
            f'loading it with a full unpickle because {TRUST_ENV} / '
            '--trust-checkpoint says it is trusted',
            stacklevel=2,
        )
        return torch.load(
            filename, map_location=map_location, weights_only=False
        )


def _load_safely(
    filename: str, map_location: str | torch.device | None
) -> Any:
    if zipfile.is_zipfile(filename):
        return _torch_load(filename, map_location)
    with open(filename, 'rb') as f:
        try:
            first = _restricted_pickle_load(f)
        except UnsafeCheckpointError:
            raise
        except Exception as exc:  # noqa: BLE001 - any parse failure
            raise CorruptCheckpointError(
                f'{filename} is neither a PyTorch checkpoint nor a weights '
                f'pickle ({type(exc).__name__}: {exc}); it may be truncated '
                'or of another format'
            ) from None
    if isinstance(first, int) and first == _TORCH_LEGACY_MAGIC:
        return _torch_load(filename, map_location)
    return first


def _torch_load(filename: str, map_location: str | torch.device | None) -> Any:
    try:
        with torch.serialization.safe_globals(_mmengine_globals()):
            return torch.load(
                filename, map_location=map_location, weights_only=True
            )
    except pickle.UnpicklingError as exc:
        if 'GLOBAL' in str(exc) or 'global' in str(exc):
            raise UnsafeCheckpointError(str(exc)) from None
        raise CorruptCheckpointError(
            f'{filename} could not be read ({exc})'
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile) as exc:
        raise CorruptCheckpointError(
            f'{filename} is not a readable checkpoint ({exc}); it may be '
            'truncated: fetch or save it again'
        ) from None


def load_weights_pickle(filename: str) -> Any:
    """Read a plain pickle of weights (detectron2 ``.pkl``) safely.

    Args:
        filename (str): Path of the pickle.

    Returns:
        Any: The unpickled object (numpy arrays in builtin containers).

    Raises:
        UnsafeCheckpointError: The pickle names another global; never
            bypassed, since these files never need one.
    """
    filename = _check_file(filename)
    with open(filename, 'rb') as f:
        try:
            return _restricted_pickle_load(f)
        except UnsafeCheckpointError as exc:
            raise UnsafeCheckpointError(
                f'refusing to load {filename}: {exc} is not a numpy array '
                'or builtin container, and a weights pickle never needs one'
            ) from None
        except Exception as exc:  # noqa: BLE001 - any parse failure
            raise CorruptCheckpointError(
                f'{filename} is not a readable pickle ({type(exc).__name__}: '
                f'{exc}); it may be truncated'
            ) from None


def load_from_safe_http(
    url: str,
    map_location: str | torch.device | None = None,
    model_dir: str | None = None,
) -> Any:
    """MMEngine's http(s) scheme: download to the hub cache, load safely.

    Args:
        url (str): http(s) URL.
        map_location (str | torch.device, optional): As in ``torch.load``.
        model_dir (str, optional): Download folder; defaults to torch hub's
            ``checkpoints`` folder.

    Returns:
        Any: The loaded checkpoint.
    """
    from urllib.parse import urlparse

    from torch.hub import download_url_to_file, get_dir

    from mmpointrend import hub

    for info in hub.load_model_index().values():
        if info.weights == url:  # a zoo file: verified download
            return load_from_safe_local(
                hub.download_checkpoint(info.name, folder=model_dir),
                map_location=map_location,
            )

    model_dir = model_dir or osp.join(get_dir(), 'checkpoints')
    os.makedirs(model_dir, exist_ok=True)
    cached = osp.join(model_dir, osp.basename(urlparse(url).path))
    if not osp.exists(cached):
        download_url_to_file(url, cached, progress=True)
    return load_from_safe_local(cached, map_location=map_location)


def load_from_safe_local(
    filename: str, map_location: str | torch.device | None = None
) -> Any:
    """:func:`load_checkpoint_file`, then foreign layouts converted.

    mmseg, mmdet and detectron2 PointRend checkpoints are recognised by
    their keys and converted to mmpointrend's in memory
    (:func:`mmpointrend.converters.convert_foreign_checkpoint`), so
    ``tools/test.py``, ``load_from`` and the inference API take them as
    published.

    Args:
        filename (str): Path of the file.
        map_location (str | torch.device, optional): As in ``torch.load``.

    Returns:
        Any: The (converted) checkpoint.
    """
    from mmpointrend.converters import convert_foreign_checkpoint

    checkpoint = load_checkpoint_file(filename, map_location)
    return convert_foreign_checkpoint(checkpoint, osp.basename(filename))


def register_checkpoint_loaders() -> None:
    """Route MMEngine's local and http(s) checkpoint loading through here.

    Idempotent. Covers ``load_from``, ``--resume``, ``load_checkpoint`` and
    therefore mmseg's ``init_model`` and mmdet's ``init_detector``.
    """
    from mmengine.runner.checkpoint import CheckpointLoader

    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_safe_local, force=True
    )
    CheckpointLoader.register_scheme(
        prefixes=('http://', 'https://'),
        loader=load_from_safe_http,
        force=True,
    )
