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
import pickletools
import re
import warnings
import zipfile
from collections.abc import Iterator
from typing import IO, Any

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


#: numpy dtype kinds a checkpoint may hold: bool, signed and unsigned
#: integers, floats and complex numbers. Strings, bytes, void (structured),
#: datetimes and objects are refused: MMEngine never writes them, and a
#: structured dtype's state can place field offsets outside its buffer.
_PLAIN_KINDS = frozenset('biufc')
_PLAIN_TYPECODES = '?' + np.typecodes['AllInteger'] + np.typecodes['AllFloat']


def _numpy_globals() -> list[Any]:
    """Numpy types a weights-only checkpoint may contain, under both names.

    Files written under NumPy 1 name ``numpy.core.multiarray``, under NumPy 2
    ``numpy._core.multiarray``; both must load whichever NumPy is installed.
    Only the dtype classes of plain numbers and booleans are listed; the
    loaded dtypes are checked again by :func:`check_plain_data`, since a
    pickled dtype's state can add fields to any dtype class.

    Returns:
        list: Objects and ``(object, qualified name)`` pairs for
        ``torch.serialization.safe_globals``.
    """
    core = _numpy_core()
    allowed: list[Any] = [np.ndarray, np.dtype]
    for prefix in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        allowed.append((core._reconstruct, f'{prefix}._reconstruct'))
        allowed.append((core.scalar, f'{prefix}.scalar'))
    allowed += [type(np.dtype(t)) for t in _PLAIN_TYPECODES]
    return allowed


def _plain_dtype(dtype: np.dtype) -> bool:
    """Whether a dtype is a plain number/bool with nothing attached.

    Reads only the dtype's description, never array memory, so it is safe
    on a crafted dtype whose field offsets point outside its buffer.

    Args:
        dtype (np.dtype): The dtype to check.

    Returns:
        bool: True for an unstructured bool/int/uint/float/complex dtype of
        its type's own size.
    """
    return (
        dtype.fields is None
        and dtype.names is None
        and dtype.subdtype is None
        and dtype.metadata is None
        and dtype.kind in _PLAIN_KINDS
        and not dtype.hasobject
        and dtype.itemsize == np.dtype(dtype.type).itemsize
    )


_LEAVES = (torch.Tensor, str, bytes, bytearray, int, float, complex)


def check_plain_data(obj: Any, filename: str) -> None:
    """Refuse numpy data of any but plain numeric/bool dtypes.

    Walks the loaded object (iteratively: a pickle can nest deeply or refer
    to itself) and checks every numpy dtype, array and scalar.

    Args:
        obj (Any): What a loader returned.
        filename (str): The file, for the message.

    Raises:
        UnsafeCheckpointError: A dtype with fields, sub-arrays, metadata,
            objects or a non-numeric kind.
    """
    stack, seen = [obj], set()
    while stack:
        item = stack.pop()
        if item is None or isinstance(item, _LEAVES) or id(item) in seen:
            continue
        seen.add(id(item))
        dtype = None
        if isinstance(item, np.dtype):
            dtype = item
        elif isinstance(item, (np.ndarray, np.generic)):
            dtype = item.dtype
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
        elif hasattr(item, '__dict__'):  # HistoryBuffer
            stack.extend(vars(item).values())
        if dtype is not None and not _plain_dtype(dtype):
            raise UnsafeCheckpointError(
                f'refusing to load {filename}: it holds a numpy dtype '
                f'({dtype.descr if dtype.fields else dtype.str!r}) that is '
                'not a plain number or bool. Checkpoints never need one, and '
                'a crafted structured dtype can read memory outside its '
                'array. Re-save the weights from a trusted environment as '
                'plain tensors.'
            )


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


def _plain_dtype_classes() -> set[type]:
    return {type(np.dtype(t)) for t in _PLAIN_TYPECODES}


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
            if value in _plain_dtype_classes():
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
    if str(exc).startswith('refusing to load'):  # already names the file
        return UnsafeCheckpointError(
            f'{exc} If you trust this file and its source, pass '
            f'--trust-checkpoint to the tool or set {TRUST_ENV}=1 (a full '
            'unpickle).'
        )
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


def _check_opcodes(filename: str, stream: IO[bytes], what: str) -> None:
    """Parse a pickle's opcodes, without running them, up to its STOP.

    A cut or damaged pickle is then reported as corrupt, not as whatever
    half an opcode happens to look like (a truncated global name reads as
    an unknown global).

    Raises:
        CorruptCheckpointError: The opcode stream is damaged or cut short.
    """
    try:
        for _ in pickletools.genops(stream):
            pass
    except Exception as exc:  # noqa: BLE001 - any parse failure
        raise CorruptCheckpointError(
            f'{filename} is damaged: its {what} is not a complete pickle '
            f'({type(exc).__name__}: {exc}); fetch or save it again'
        ) from None


def _zip_pickle(filename: str) -> bytes:
    """The ``data.pkl`` record of a torch zip checkpoint."""
    try:
        with zipfile.ZipFile(filename) as archive:
            names = [n for n in archive.namelist() if n.endswith('/data.pkl')]
            if len(names) != 1:
                raise CorruptCheckpointError(
                    f'{filename} is a zip file but not a PyTorch checkpoint '
                    f'(it has {len(names)} data.pkl records, not 1)'
                )
            return archive.read(names[0])
    except CorruptCheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - damaged archive
        raise CorruptCheckpointError(
            f'{filename} is a damaged zip file ({type(exc).__name__}: '
            f'{exc}); fetch or save it again'
        ) from None


def _load_safely(
    filename: str, map_location: str | torch.device | None
) -> Any:
    if zipfile.is_zipfile(filename):
        _check_opcodes(filename, io.BytesIO(_zip_pickle(filename)), 'data.pkl')
        loaded = _torch_load(filename, map_location)
    else:
        with open(filename, 'rb') as f:
            _check_opcodes(filename, f, 'first pickle')
            f.seek(0)
            first = _parse(filename, lambda: _restricted_pickle_load(f))
        if isinstance(first, int) and first == _TORCH_LEGACY_MAGIC:
            loaded = _torch_load(filename, map_location)
        else:
            loaded = first
    check_plain_data(loaded, filename)
    return loaded


#: Words of torch's weights-only refusals (as opposed to parse failures).
_REFUSALS = (
    'GLOBAL',
    'Can only build',
    'Can only create new object',
    'unrecognized function',
    'is blocked',
)


def _parse(filename: str, read: Any) -> Any:
    """Run a reader; every failure but a refusal is a corrupt file.

    A malformed pickle can fail in any way at all (``KeyError``,
    ``LookupError``, ``MemoryError``, ``RecursionError``...): none of those
    may escape as a raw error without the file's name.

    Args:
        filename (str): The file, for messages.
        read (Callable[[], Any]): Reads and returns the object.

    Returns:
        Any: What ``read`` returned.

    Raises:
        UnsafeCheckpointError: The reader refused a global or an operation.
        CorruptCheckpointError: Any other failure.
    """
    try:
        return read()
    except UnsafeCheckpointError:
        raise
    except pickle.UnpicklingError as exc:
        if any(word in str(exc) for word in _REFUSALS):
            raise UnsafeCheckpointError(str(exc)) from None
        raise CorruptCheckpointError(
            f'{filename} could not be read as a checkpoint ({exc}); it may be '
            'truncated or of another format: fetch or save it again'
        ) from None
    except Exception as exc:  # noqa: BLE001 - a malformed file fails anyhow
        raise CorruptCheckpointError(
            f'{filename} is not a readable checkpoint '
            f'({type(exc).__name__}: {exc}); it may be truncated, damaged or '
            'of another format: fetch or save it again'
        ) from None


def _torch_load(filename: str, map_location: str | torch.device | None) -> Any:
    def read() -> Any:
        with torch.serialization.safe_globals(_mmengine_globals()):
            return torch.load(
                filename, map_location=map_location, weights_only=True
            )

    return _parse(filename, read)


def load_weights_pickle(filename: str) -> Any:
    """Read a plain pickle of weights (detectron2 ``.pkl``) safely.

    Args:
        filename (str): Path of the pickle.

    Returns:
        Any: The unpickled object (numpy arrays in builtin containers).

    Raises:
        UnsafeCheckpointError: The pickle names another global or holds a
            non-numeric dtype; never bypassed, since these files never
            need one.
    """
    filename = _check_file(filename)
    with open(filename, 'rb') as f:
        _check_opcodes(filename, f, 'pickle')
        f.seek(0)
        try:
            loaded = _parse(filename, lambda: _restricted_pickle_load(f))
        except UnsafeCheckpointError as exc:
            raise UnsafeCheckpointError(
                f'refusing to load {filename}: {exc} is not a numpy array '
                'or builtin container, and a weights pickle never needs one'
            ) from None
    check_plain_data(loaded, filename)
    return loaded


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

    from mmpointrend import hub
    from mmpointrend.converters import convert_foreign_checkpoint

    for info in hub.load_model_index().values():
        if info.weights == url:  # a zoo file: verified download
            return load_from_safe_local(
                hub.download_checkpoint(info.name, folder=model_dir),
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
        checkpoint = hub.download_to(
            url,
            cached,
            lambda tmp: load_checkpoint_file(tmp, map_location),
            progress=True,
        )
    except hub.DownloadError as exc:
        raise hub.DownloadError(
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


def _mmengine_home_file(filename: str, relative: str) -> str:
    from mmengine.runner.checkpoint import _get_mmengine_home

    path = osp.join(_get_mmengine_home(), relative)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{filename} resolves to {path}, which does not exist'
        )
    return path


def _lookup(table: dict, name: str, filename: str, index: str) -> str:
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

    name = filename.split('://', 1)[1]
    name = get_deprecated_model_names().get(name, name)
    url = _lookup(
        get_external_models(), name, filename, "MMEngine's open-mmlab"
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

    name = filename.split('://', 1)[1]
    url = _lookup(get_torchvision_models(), name, filename, 'torchvision')
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

    name = filename.split('://', 1)[1]
    url = _lookup(get_mmcls_models(), name, filename, "MMEngine's mmcls")
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
        if not getattr(loader, '__module__', '').startswith('mmpointrend'):
            CheckpointLoader.register_scheme(
                prefix, loader=_weights_only_wrapper(loader), force=True
            )
