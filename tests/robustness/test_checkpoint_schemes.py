"""Every MMEngine checkpoint scheme loads through the safe loader.

MMEngine resolves ``open-mmlab://``, ``mmcls://``, ``torchvision://``,
``s3://``, ``pavi://`` and plain paths/URLs with its own loaders, which
unpickle fully. After ``import mmpointrend`` (and mmseg's and mmdet's
models) every registered scheme must be one of ours; a payload planted in
torch's hub cache under the name an ``open-mmlab://`` model resolves to
must never run, in-process and through ``tools/train.py``.
"""

from __future__ import annotations

import os.path as osp

import pytest
import torch
from mmengine.runner.checkpoint import (
    CheckpointLoader,
    _load_checkpoint,
    get_external_models,
    get_mmcls_models,
)
from payloads import SEM_CONFIG, data_options, run_tool, write_malicious

import mmpointrend  # noqa: F401
from mmpointrend.checkpoint import UnsafeCheckpointError
from mmpointrend.checkpoint.schemes import (
    SAFE_SCHEMES,
    register_checkpoint_loaders,
)

#: The schemes MMEngine 0.10 registers (checked against its table below).
MMENGINE_PREFIXES = {
    '',
    'http://',
    'https://',
    'pavi://',
    r'(\S+\:)?s3://',
    r'(\S+\:)?petrel://',
    'modelzoo://',
    'torchvision://',
    'open-mmlab://',
    'openmmlab://',
    'mmcls://',
}


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / 'PWNED'
    yield str(path)
    assert not path.exists(), 'a checkpoint ran code'


def test_every_registered_scheme_is_ours():
    import mmdet.models  # noqa: F401  (anything they register counts too)
    import mmseg.models  # noqa: F401

    schemes = dict(CheckpointLoader._schemes)
    assert MMENGINE_PREFIXES <= set(schemes), set(schemes)
    assert set(SAFE_SCHEMES) == MMENGINE_PREFIXES
    for prefix, loader in schemes.items():
        assert loader.__module__ == 'mmpointrend.checkpoint.schemes', (
            f'scheme {prefix!r} loads through {loader.__module__}.'
            f'{loader.__name__}, not the safe loader'
        )
        if prefix in SAFE_SCHEMES:
            assert loader is SAFE_SCHEMES[prefix], prefix


def test_a_scheme_registered_later_is_forced_weights_only(tmp_path, marker):
    evil = write_malicious(str(tmp_path / 'evil.pth'), marker)

    def load_from_someone(filename, map_location=None):
        # what a careless third-party scheme does
        return torch.load(evil, map_location=map_location, weights_only=False)

    try:
        CheckpointLoader.register_scheme('someone://', load_from_someone)
        register_checkpoint_loaders()  # what every mmpointrend entry runs
        loader = CheckpointLoader._schemes['someone://']
        assert loader.__module__ == 'mmpointrend.checkpoint.schemes'
        with pytest.raises(UnsafeCheckpointError, match='posix.system'):
            _load_checkpoint('someone://x', map_location='cpu')
    finally:
        CheckpointLoader._schemes.pop('someone://', None)


def _plant(hub: str, url: str, marker: str) -> str:
    """Put a payload where torch's hub cache keeps ``url``'s file."""
    folder = osp.join(hub, 'hub', 'checkpoints')
    return write_malicious(osp.join(folder, osp.basename(url)), marker)


@pytest.mark.parametrize(
    'scheme,table',
    [
        ('open-mmlab://resnet18_v1c', get_external_models),
        ('openmmlab://resnet18_v1c', get_external_models),
        ('mmcls://', get_mmcls_models),
    ],
)
def test_planted_hub_cache_payload_never_runs(
    tmp_path, marker, monkeypatch, scheme, table
):
    import os

    name = scheme.split('://', 1)[1] or next(iter(get_mmcls_models()))
    url = table()[name]
    os.makedirs(tmp_path / 'torch' / 'hub' / 'checkpoints')
    _plant(str(tmp_path / 'torch'), url, marker)
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    with pytest.raises(UnsafeCheckpointError, match='posix.system'):
        _load_checkpoint(scheme.split('://')[0] + '://' + name, 'cpu')


def test_unknown_open_mmlab_name_suggests_close_ones():
    with pytest.raises(KeyError, match='Did you mean.*resnet18_v1c'):
        _load_checkpoint('open-mmlab://resnet18_v1', 'cpu')


@pytest.mark.slow
def test_train_tool_never_runs_a_planted_pretrained_payload(tmp_path, marker):
    """The config a user copies: backbone init_cfg names open-mmlab://."""
    from mmpointrend.dataset_makers import generate_synthetic_dataset

    data_root = str(tmp_path / 'data')
    generate_synthetic_dataset(data_root, num_train=2, num_val=1, size=64)
    url = get_external_models()['resnet18_v1c']
    import os

    os.makedirs(tmp_path / 'torch' / 'hub' / 'checkpoints')
    _plant(str(tmp_path / 'torch'), url, marker)
    proc = run_tool(
        'tools/train.py',
        SEM_CONFIG,
        '--work-dir',
        str(tmp_path / 'work'),
        '--cfg-options',
        *data_options(data_root),
        'model.backbone.init_cfg.type=Pretrained',
        'model.backbone.init_cfg.checkpoint=open-mmlab://resnet18_v1c',
        'train_cfg.max_iters=1',
        env={'TORCH_HOME': str(tmp_path / 'torch')},
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-3000:]
    assert 'posix.system' in out and '--trust-checkpoint' in out, out[-3000:]
    assert 'resnet18_v1c-b5776b93.pth' in out
