"""A generated corpus of hostile checkpoint files.

Three families, each written in every container a loader may be handed
(``torch.save`` zip, the legacy torch format, a plain pickle):

* ``payload``: objects whose unpickling would run code (each would create
  ``marker``);
* ``dtype``: numpy data whose dtype is not a plain number or bool, among
  them crafted dtypes whose field offsets point outside their buffer;
* ``malformed``: torch zips with a damaged, replaced or missing
  ``data.pkl`` and truncated files, plus seeded byte flips.

``payload`` and ``dtype`` files must be refused as unsafe, ``malformed``
ones as corrupt (or, for a byte flip that happens to keep the pickle
valid, load as plain data).
"""

from __future__ import annotations

import io
import os
import pickle
import random
import subprocess
import zipfile
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Hostile:
    """One corpus file: where it is, what it is, what a loader must say."""

    path: str
    name: str
    family: str  # payload | dtype | malformed


class _Reduce:
    """Pickles as ``func(*args)`` followed by an optional BUILD ``state``."""

    def __init__(self, func, args, state=None) -> None:
        self.func, self.args, self.state = func, args, state

    def __reduce__(self):
        if self.state is None:
            return (self.func, self.args)
        return (self.func, self.args, self.state)


def _payloads(marker: str) -> dict[str, object]:
    touch = f'touch {marker}'
    return {
        'os.system': _Reduce(os.system, (touch,)),
        'eval': _Reduce(eval, (f"__import__('os').system({touch!r})",)),
        'subprocess.Popen': _Reduce(subprocess.Popen, (['touch', marker],)),
        'numpy.load': _Reduce(np.load, (marker, None, True)),
        'torch.load': _Reduce(torch.load, (marker,)),
        'object-array': np.array([_Reduce(os.system, (touch,))], object),
    }


def _crafted(kind: str, offset: int) -> _Reduce:
    """A dtype whose pickled state adds a float64 field at ``offset``."""
    base = {'void': ('V8', 8), 'float32': ('f4', 4)}[kind]
    state = (3, '|', None, ('a',), {'a': (np.dtype('<f8'), offset)}, base[1],
             1, 16)  # fmt: skip
    return _Reduce(np.dtype, (base[0], False, True), state)


def _dtypes() -> dict[str, object]:
    far = 1 << 20
    data = bytes(8)
    return {
        'float32-with-fields': _crafted('float32', far),
        'void-with-fields': _crafted('void', far),
        'scalar-of-crafted-dtype': _Reduce(
            np._core.multiarray.scalar
            if hasattr(np, '_core')
            else np.core.multiarray.scalar,
            (_crafted('void', far), data),
        ),
        'structured-array': np.zeros(2, dtype=[('a', '<f4')]),
        'subarray-dtype': np.dtype(('<f4', (2,))),
        'unicode-array': np.array(['text']),
        'bytes-array': np.array([b'raw']),
        'datetime-array': np.array(['2020-01-01'], dtype='datetime64[D]'),
        'object-array-of-ints': np.array([1, 2], dtype=object),
    }


def _write(path: str, obj: object, container: str) -> str:
    payload = {'state_dict': {'w': torch.zeros(2)}, 'meta': {'x': obj}}
    if container == 'zip':
        torch.save(payload, path)
    elif container == 'legacy':
        torch.save(payload, path, _use_new_zipfile_serialization=False)
    else:  # a plain weights pickle, as detectron2 writes them
        with open(path, 'wb') as f:
            pickle.dump({'model': {'w': np.zeros(2, np.float32), 'x': obj}},
                        f, protocol=2)  # fmt: skip
    return path


def _replace_entries(src: bytes, changes: dict[str, bytes | None]) -> bytes:
    """A copy of a torch zip with entries replaced (``None``: removed)."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(src)) as zin,
        zipfile.ZipFile(out, 'w', zipfile.ZIP_STORED) as zout,
    ):
        for info in zin.infolist():
            key = next((k for k in changes if info.filename.endswith(k)), None)
            if key is None:
                zout.writestr(info, zin.read(info))
            elif changes[key] is not None:
                zout.writestr(info.filename, changes[key])
    return out.getvalue()


def _malformed(valid: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(valid)) as z:
        data_pkl = next(n for n in z.namelist() if n.endswith('data.pkl'))
        pkl = z.read(data_pkl)
    rng = random.Random(1234)
    proto = b'\x80\x02'
    bad_pickles = {
        'empty-data.pkl': b'',
        'random-data.pkl': bytes(rng.getrandbits(8) for _ in range(64)),
        'truncated-data.pkl': pkl[: len(pkl) // 2],
        # BINGET of a memo slot never written: KeyError inside the reader
        'missing-memo': proto + b'h\x07.',
        # _codecs.encode (allowed for bytes) with an unknown codec
        'unknown-codec': proto + b'c_codecs\nencode\nX\x01\x00\x00\x00x'
        b'X\x0c\x00\x00\x00no-such-codec\x86R.',
        # an allowed rebuild function called with the wrong arguments
        'wrong-arity': proto + b'ctorch._utils\n_rebuild_tensor_v2\n)R.',
        # a string that claims 2 GiB
        'huge-string': proto + b'X\x00\x00\x00\x80abc.',
        # an OrderedDict built from a non-iterable
        'bad-ordereddict': proto + b'ccollections\nOrderedDict\nK\x05\x85R.',
        # a persistent id that names no storage
        'bad-persistent-id': proto + b'X\x03\x00\x00\x00abcQ.',
        'stack-underflow': proto + b'\x85.',
    }
    files = {
        name: _replace_entries(valid, {'data.pkl': body})
        for name, body in bad_pickles.items()
    }
    files['no-data.pkl'] = _replace_entries(valid, {'data.pkl': None})
    files['no-storage'] = _replace_entries(valid, {'data/0': None})
    for frac in (0.1, 0.5, 0.9):
        files[f'truncated-{int(frac * 100)}%'] = valid[
            : int(len(valid) * frac)
        ]
    files['last-byte-cut'] = valid[:-1]
    start = valid.find(pkl)
    for i in range(24):  # seeded single-byte flips inside data.pkl
        flipped = bytearray(valid)
        at = start + rng.randrange(len(pkl))
        flipped[at] ^= 1 << rng.randrange(8)
        files[f'flip-{i:02d}'] = bytes(flipped)
    return files


def write_corpus(folder: str, marker: str) -> list[Hostile]:
    """Write every hostile file into ``folder``.

    Args:
        folder (str): Output folder (must exist).
        marker (str): The file a payload would create if it ran.

    Returns:
        list[Hostile]: The corpus.
    """
    corpus = []
    for family, objects in (
        ('payload', _payloads(marker)),
        ('dtype', _dtypes()),
    ):
        for name, obj in objects.items():
            for container in ('zip', 'legacy', 'pickle'):
                path = os.path.join(folder, f'{family}-{name}.{container}')
                _write(path, obj, container)
                corpus.append(Hostile(path, f'{name}.{container}', family))
    buffer = io.BytesIO()
    torch.save({'state_dict': {'w': torch.arange(4.0)}, 'meta': {'a': 1}},
               buffer)  # fmt: skip
    for name, body in _malformed(buffer.getvalue()).items():
        path = os.path.join(folder, f'malformed-{name}.pth')
        with open(path, 'wb') as f:
            f.write(body)
        corpus.append(Hostile(path, name, 'malformed'))
    return corpus
