"""Malicious checkpoints through every user-facing load path never run code.

Each malicious file would create a marker file if unpickled; every test
asserts the marker never appears and that the error names the offending
global and the opt-in. Layers: the loader itself, then MMEngine/mmseg/mmdet
entry points in-process, then the real tools as subprocesses.
"""

from __future__ import annotations

import http.server
import os.path as osp
import pickle
import socketserver
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import _load_checkpoint
from payloads import (
    INS_CONFIG,
    ROOT,
    SEM_CONFIG,
    OpensFile,
    data_options,
    run_tool,
    write_malicious,
)

import mmpointrend  # noqa: F401  (registers the loaders)
from mmpointrend.checkpoint import (
    TRUST_ENV,
    CorruptCheckpointError,
    UnsafeCheckpointError,
    load_checkpoint_file,
    load_weights_pickle,
    trust_requested,
    trusted_checkpoints,
)


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / 'PWNED'
    yield str(path)
    assert not path.exists(), 'a checkpoint ran code'


# -- layer 1: the loader -------------------------------------------------------
@pytest.mark.parametrize('kind', ['zip', 'legacy', 'pickle'])
def test_loader_refuses_code_in_every_format(tmp_path, marker, kind):
    path = write_malicious(str(tmp_path / f'evil.{kind}'), marker, kind)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_checkpoint_file(path)
    message = str(info.value)
    assert 'posix.system' in message or 'nt.system' in message
    assert '--trust-checkpoint' in message and TRUST_ENV in message


def test_restricted_unpickler_for_detectron2_pickles(tmp_path, marker):
    path = write_malicious(str(tmp_path / 'evil.pkl'), marker, 'pickle')
    with trusted_checkpoints():  # no opt-out exists for weight pickles
        with pytest.raises(UnsafeCheckpointError, match='posix.system'):
            load_weights_pickle(path)
    good = tmp_path / 'model_final.pkl'
    weights = {'a': np.arange(6, dtype=np.float32).reshape(2, 3)}
    with open(good, 'wb') as f:
        pickle.dump({'model': weights, '__author__': 'x'}, f, protocol=2)
    loaded = load_weights_pickle(str(good))
    np.testing.assert_array_equal(loaded['model']['a'], weights['a'])


def test_getattr_is_answered_for_history_buffer_statistics_only(
    tmp_path, marker
):
    class Reach:
        def __reduce__(self):
            return (getattr, (HistoryBuffer, '__init__'))

    path = str(tmp_path / 'reach.pth')
    torch.save({'x': Reach()}, path)
    with pytest.raises(UnsafeCheckpointError, match='getattr'):
        load_checkpoint_file(path)
    buffer = HistoryBuffer()
    buffer.update(0.25)
    torch.save({'hub': {'loss': buffer}}, str(tmp_path / 'hub.pth'))
    loaded = load_checkpoint_file(str(tmp_path / 'hub.pth'))['hub']['loss']
    assert loaded.current() == 0.25 and loaded.statistics('max') == 0.25


@pytest.mark.parametrize(
    'value,expected',
    [('1', True), ('true', True), ('YES', True), (' on ', True)]
    + [('0', False), ('false', False), ('no', False), ('off', False)]
    + [('', False)],
)
def test_trust_variable_is_parsed_strictly(monkeypatch, value, expected):
    monkeypatch.setenv(TRUST_ENV, value)
    assert trust_requested() is expected


@pytest.mark.parametrize('value', ['maybe', '2', 'enable', 'tru'])
def test_unknown_trust_value_is_an_error_not_off(monkeypatch, tmp_path, value):
    monkeypatch.setenv(TRUST_ENV, value)
    path = str(tmp_path / 'ok.pth')
    torch.save({'w': torch.ones(1)}, path)
    with pytest.raises(ValueError, match='not understood'):
        load_checkpoint_file(path)


def test_opt_in_loads_a_trusted_file(monkeypatch, tmp_path):
    created = tmp_path / 'created'
    path = str(tmp_path / 'custom.pth')
    torch.save({'obj': OpensFile(str(created))}, path)
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint_file(path)
    assert not created.exists()
    monkeypatch.setenv(TRUST_ENV, 'true')
    with pytest.warns(UserWarning, match='full unpickle'):
        load_checkpoint_file(path)
    assert created.exists()  # the explicit opt-in really unpickled it


def test_empty_and_truncated_files_are_named(tmp_path):
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    with pytest.raises(CorruptCheckpointError, match='empty .0 bytes.'):
        load_checkpoint_file(str(empty))
    full = tmp_path / 'full.pth'
    torch.save({'state_dict': {'w': torch.ones(1000)}}, full)
    cut = tmp_path / 'cut.pth'
    cut.write_bytes(full.read_bytes()[:300])
    with pytest.raises(CorruptCheckpointError, match='truncated'):
        load_checkpoint_file(str(cut))
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_checkpoint_file(str(tmp_path / 'missing.pth'))
    with pytest.raises(IsADirectoryError, match='directory'):
        load_checkpoint_file(str(tmp_path))


def test_import_never_makes_other_loading_less_safe(tmp_path, marker):
    path = write_malicious(str(tmp_path / 'evil.pth'), marker)
    script = f"""
import pickle, torch
from mmengine.runner.checkpoint import _load_checkpoint
def refused(fn):
    try:
        fn()
    except pickle.UnpicklingError:
        return True
    return False
import mmdet, mmseg
before = refused(lambda: torch.load({path!r}))
allowed = set(map(str, torch.serialization.get_safe_globals()))
import mmpointrend
after_torch = refused(lambda: torch.load({path!r}))
after_mmengine = refused(lambda: _load_checkpoint({path!r}))
now = set(map(str, torch.serialization.get_safe_globals()))
assert now == allowed, f'global allow-list changed: {{now ^ allowed}}'
print(before, after_torch, after_mmengine)
"""
    proc = subprocess.run(
        [sys.executable, '-c', script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[-1].split() == ['True', 'True', 'True']


# -- layer 2: library entry points in-process ---------------------------------
def test_mmengine_load_checkpoint_refuses(tmp_path, marker):
    path = write_malicious(str(tmp_path / 'evil.pth'), marker)
    with pytest.raises(UnsafeCheckpointError):
        _load_checkpoint(path, map_location='cpu')


def test_mmseg_init_model_refuses_after_import(tmp_path, marker):
    from mmseg.apis import init_model

    path = write_malicious(str(tmp_path / 'evil.pth'), marker)
    with pytest.raises(UnsafeCheckpointError):
        init_model(SEM_CONFIG, path, device='cpu')


def test_mmdet_init_detector_refuses_after_import(tmp_path, marker):
    from mmdet.apis import init_detector

    path = write_malicious(str(tmp_path / 'evil.pth'), marker)
    with pytest.raises(UnsafeCheckpointError):
        init_detector(INS_CONFIG, path, device='cpu')


class _OneFileHandler(http.server.BaseHTTPRequestHandler):
    body = b''

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header('Content-Length', str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def test_http_checkpoint_is_loaded_safely(tmp_path, marker, monkeypatch):
    """A URL (load_from='https://...') goes through the same safe loader."""
    path = write_malicious(str(tmp_path / 'evil.pth'), marker)
    handler = type('H', (_OneFileHandler,), {'body': open(path, 'rb').read()})
    server = socketserver.TCPServer(('127.0.0.1', 0), handler)
    server.timeout = 10
    port = server.server_address[1]
    # Serve exactly one request, then stop (bounded in requests and time).
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'hub'))
    try:
        with pytest.raises(UnsafeCheckpointError):
            _load_checkpoint(f'http://127.0.0.1:{port}/evil.pth')
    finally:
        thread.join(timeout=15)
        server.server_close()


# -- layer 3: the tools -------------------------------------------------------
@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    from mmpointrend.dataset_makers import generate_synthetic_dataset

    root = str(tmp_path_factory.mktemp('synthetic'))
    generate_synthetic_dataset(root, num_train=2, num_val=1, size=64, seed=5)
    return root


def _assert_refused(proc, marker):
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert 'posix.system' in out and '--trust-checkpoint' in out, out[-3000:]
    assert not osp.exists(marker)


@pytest.mark.slow
def test_tools_refuse_malicious_checkpoints(tmp_path, marker, data_root):
    evil = write_malicious(str(tmp_path / 'evil.pth'), marker)
    options = ['--cfg-options', *data_options(data_root)]
    work = ['--work-dir', str(tmp_path / 'work')]
    _assert_refused(
        run_tool('tools/test.py', SEM_CONFIG, evil, *work, *options), marker
    )
    _assert_refused(
        run_tool(
            'tools/train.py', SEM_CONFIG, *work, *options, f'load_from={evil}'
        ),
        marker,
    )
    _assert_refused(
        run_tool(
            'tools/train.py', SEM_CONFIG, '--resume', evil, *work, *options
        ),
        marker,
    )
    image = osp.join(data_root, 'img_dir', 'val')
    image = osp.join(image, sorted(__import__('os').listdir(image))[0])
    _assert_refused(
        run_tool(
            'tools/visualization/show_subdivision.py',
            SEM_CONFIG,
            evil,
            image,
            '--out',
            str(tmp_path / 'vis'),
        ),
        marker,
    )


@pytest.mark.parametrize(
    'tool,kind',
    [
        ('tools/model_converters/mmseg2mmpointrend.py', 'zip'),
        ('tools/model_converters/mmdet2mmpointrend.py', 'legacy'),
        ('tools/model_converters/detectron2_to_mmpointrend.py', 'pickle'),
    ],
)
def test_converters_refuse_malicious_inputs(tmp_path, marker, tool, kind):
    evil = write_malicious(str(tmp_path / 'evil.bin'), marker, kind)
    dst = tmp_path / 'out.pth'
    proc = run_tool(tool, evil, str(dst))
    assert proc.returncode != 0
    assert 'posix.system' in proc.stderr, proc.stderr[-2000:]
    assert not dst.exists() and list(tmp_path.iterdir()) == [
        tmp_path / 'evil.bin'
    ]


def test_tool_rejects_malformed_trust_variable(tmp_path, data_root):
    ckpt = str(tmp_path / 'ok.pth')
    torch.save({'state_dict': {}}, ckpt)
    proc = run_tool(
        'tools/test.py',
        SEM_CONFIG,
        ckpt,
        env={TRUST_ENV: 'sometimes'},
    )
    assert proc.returncode == 2
    assert 'not understood' in proc.stderr and 'Traceback' not in proc.stderr
