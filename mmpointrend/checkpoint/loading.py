"""Checkpoint loading that never runs code from a file unless told to.

A ``.pth`` file is a pickle, and unpickling can call any Python function the
file names. This module is the single place where mmpointrend reads
checkpoints, and it reads them safely by default:

* PyTorch/MMEngine files are read with ``torch.load(weights_only=True)``
  plus an allow-list of exactly the plain data types MMEngine itself writes
  (its message hub's :class:`HistoryBuffer`, numpy arrays and scalars of
  plain numeric/bool dtypes).
  Everything a training run saves -- weights, optimizer, schedulers, message
  hub, RNG states -- loads under it, so ``--resume`` needs no opt-in.
* Plain pickles (detectron2's ``.pkl`` model zoo) are read by a restricted
  unpickler that builds numpy arrays and builtin containers only.
* Any other object is refused with :class:`UnsafeCheckpointError`, which
  names the offending global and the opt-in for a trusted file:
  ``--trust-checkpoint`` on the tools, or ``MMPOINTREND_TRUST_CHECKPOINTS=1``.
  The variable is parsed strictly: a value that is neither yes nor no is an
  error, never "off".

* A malformed file raises :class:`CorruptCheckpointError` naming it,
  whatever the parser tripped over.

Importing :mod:`mmpointrend` routes every MMEngine checkpoint scheme
through this module (:mod:`.schemes`). Before the import, torch >= 2.6
already loads local files weights-only (and MMEngine's other loaders do
not), so the import never makes loading less safe for other code.
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
