"""Every loader against a generated corpus of hostile files (hostile.py).

A payload never runs (the marker file never appears), a non-numeric or
crafted numpy dtype is refused as unsafe, and a malformed file is refused
as corrupt with its name in the message: no loader lets a raw
``KeyError``/``LookupError``/``MemoryError``/``TypeError`` escape.
"""

from __future__ import annotations

import os.path as osp

import numpy as np
import pytest
import torch
from hostile import write_corpus
from mmengine.runner.checkpoint import _load_checkpoint

import mmpointrend  # noqa: F401  (registers the loaders)
from mmpointrend.checkpoint import (
    CorruptCheckpointError,
    UnsafeCheckpointError,
    load_checkpoint_file,
    load_weights_pickle,
)


@pytest.fixture(scope='module')
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp('hostile')
    marker = str(folder / 'PWNED')
    files = write_corpus(str(folder), marker)
    yield files
    assert not osp.exists(marker), 'a hostile checkpoint ran code'


LOADERS = {
    'load_checkpoint_file': lambda path: load_checkpoint_file(path, 'cpu'),
    'mmengine _load_checkpoint': lambda path: _load_checkpoint(path, 'cpu'),
    'load_weights_pickle': load_weights_pickle,
}


def _plain(obj) -> bool:
    """Only tensors, plain numpy data and builtin containers/scalars."""
    if isinstance(obj, dict):
        return all(_plain(k) and _plain(v) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return all(_plain(v) for v in obj)
    if isinstance(obj, (np.ndarray, np.generic)):
        return obj.dtype.kind in 'biufc' and obj.dtype.fields is None
    return obj is None or isinstance(obj, (torch.Tensor, str, int, float))


def _handed(loader: str, corpus):
    """The files a loader is meant for (detectron2's reads plain pickles)."""
    if loader != 'load_weights_pickle':
        return corpus
    return [
        c
        for c in corpus
        if c.family == 'malformed' or c.name.endswith('.pickle')
    ]


@pytest.mark.parametrize('loader', list(LOADERS))
def test_every_loader_refuses_the_corpus(corpus, loader):
    load = LOADERS[loader]
    flips = {'unsafe': 0, 'corrupt': 0, 'loaded': 0}
    for item in _handed(loader, corpus):
        flip = item.name.startswith('flip-')
        try:
            loaded = load(item.path)
        except UnsafeCheckpointError as exc:
            assert item.family != 'malformed' or flip, (item.name, str(exc))
            assert osp.basename(item.path) in str(exc), str(exc)
            flips['unsafe'] += flip
            continue
        except CorruptCheckpointError as exc:
            assert item.family == 'malformed', (item.name, str(exc))
            assert osp.basename(item.path) in str(exc), str(exc)
            flips['corrupt'] += flip
            continue
        # Only a byte flip that keeps the pickle valid may load, as data.
        assert flip, f'{item.name} loaded via {loader}'
        assert _plain(loaded), item.name
        flips['loaded'] += 1
    assert sum(flips.values()) == 24


@pytest.mark.parametrize(
    'name', ['float32-with-fields', 'void-with-fields', 'structured-array']
)
def test_dtype_refusal_names_the_dtype_and_the_file(corpus, name):
    item = next(c for c in corpus if c.name == f'{name}.zip')
    with pytest.raises(UnsafeCheckpointError) as info:
        load_checkpoint_file(item.path)
    message = str(info.value)
    assert item.path in message and '--trust-checkpoint' in message


def test_plain_numpy_data_still_loads(tmp_path):
    """What MMEngine writes: numeric arrays and scalars of every width."""
    values = {
        str(t): np.arange(3).astype(t)
        for t in ('?', 'i1', 'u2', 'i4', 'i8', 'f2', 'f4', 'f8', 'c8')
    }
    values['scalar'] = np.float64(2.5)
    path = str(tmp_path / 'plain.pth')
    torch.save({'meta': values}, path)
    loaded = load_checkpoint_file(path)['meta']
    for key, value in values.items():
        np.testing.assert_array_equal(loaded[key], value)
        assert loaded[key].dtype == value.dtype
