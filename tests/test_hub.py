"""Model zoo end to end against a local HTTP server (127.0.0.1 only).

The server serves checkpoints the tests generate, named as each publisher
names them (mmdet: sha256 prefix, detectron2: md5 prefix, mmseg: a suffix
that is no hash of the file), from a test model index that points at it.
It answers at most ``MAX_REQUESTS`` requests and stops itself after
``LIFETIME`` seconds.
"""

from __future__ import annotations

import glob
import hashlib
import http.server
import os
import os.path as osp
import pickle
import threading

import pytest
import torch
import yaml
from conftest import (
    INS_CONFIG,
    SEM_CONFIG,
    to_detectron2_layout,
    to_foreign_layout,
)

from mmpointrend.apis import build_model as build_model_from_config
from mmpointrend.apis import inference_model, init_model
from mmpointrend.checkpoint import zoo as hub
from mmpointrend.dataset_makers import generate_synthetic_dataset

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MAX_REQUESTS = 200
LIFETIME = 600


class _Server:
    """Bounded local server: ``files[path] = (bytes, mode)``."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        self.requests: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                owner.requests.append(self.path)
                if len(owner.requests) > MAX_REQUESTS:
                    self.send_error(503)
                    return
                body, mode = owner.files.get(self.path, (b'', '404'))
                if mode == '404':
                    self.send_error(404)
                    return
                if mode == 'badstatus':  # not HTTP at all
                    self.wfile.write(b'garbage\r\n\r\n')
                    self.close_connection = True
                    return
                if mode == 'chunkcut':  # a chunked body cut mid-chunk
                    self.send_response(200)
                    self.send_header('Transfer-Encoding', 'chunked')
                    self.end_headers()
                    self.wfile.write(b'%x\r\n' % (len(body) * 2) + body)
                    self.close_connection = True
                    return
                self.send_response(200)
                length = len(body) * (2 if mode == 'truncate' else 1)
                self.send_header('Content-Length', str(length))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = f'http://127.0.0.1:{self.httpd.server_address[1]}'
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, daemon=True
        )
        self.timer = threading.Timer(LIFETIME, self.httpd.shutdown)

    def __enter__(self) -> _Server:
        self.thread.start()
        self.timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.timer.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    with _Server() as srv:
        yield srv


def _random_model(config, seed):
    torch.manual_seed(seed)
    model, _ = build_model_from_config(config)
    model.init_weights()
    with torch.no_grad():  # non-trivial predictions
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


@pytest.fixture(scope='module')
def originals():
    """The models whose weights the test zoo publishes (built once)."""
    return dict(
        sem=_random_model(SEM_CONFIG, 0), ins=_random_model(INS_CONFIG, 1)
    )


@pytest.fixture
def zoo(tmp_path, server, monkeypatch, originals):
    """A test model index whose weights the local server publishes."""
    files = tmp_path / 'published'
    files.mkdir()
    entries = []

    def publish(name, config, state, style):
        raw = tmp_path / 'raw.bin'
        if style == 'detectron2':  # a plain pickle of numpy arrays
            with open(raw, 'wb') as f:
                pickle.dump({'model': state, '__author__': 'test'}, f)
        else:
            torch.save({'state_dict': state, 'meta': {}}, raw)
        data = raw.read_bytes()
        if style == 'detectron2':  # model_final_<md5 prefix>.pkl
            filename = f'model_final_{hashlib.md5(data).hexdigest()[:6]}.pkl'
            filename = f'{name}/{filename}'
            convention, fmt = 'md5-prefix', 'detectron2'
        elif style == 'mmdet':
            filename = f'{name}-{hashlib.sha256(data).hexdigest()[:8]}.pth'
            convention, fmt = 'sha256-prefix', 'mmdet'
        else:  # mmseg: the suffix is not a hash of the served file
            filename = f'{name}_20200711-0badc0de.pth'
            convention, fmt = 'mmseg-sha256-prefix', 'mmseg'
        (files / filename).parent.mkdir(exist_ok=True)
        (files / filename).write_bytes(data)
        server.files[f'/zoo/{filename}'] = (data, 'ok')
        entries.append(
            {
                'Name': name,
                'Config': config,
                'Weights': f'{server.url}/zoo/{filename}',
                'Metadata': {
                    'Publisher': fmt,
                    'Weight Format': fmt,
                    'Hash Convention': convention,
                },
            }
        )
        return filename

    sem, ins = originals['sem'], originals['ins']
    names = dict(
        sem=publish(
            'sem_model',
            SEM_CONFIG,
            to_foreign_layout(sem.state_dict(), 'mmseg'),
            'mmseg',
        ),
        ins=publish(
            'ins_model',
            INS_CONFIG,
            to_foreign_layout(ins.state_dict(), 'mmdet'),
            'mmdet',
        ),
        ins_d2=publish(
            'ins_d2_model',
            INS_CONFIG,
            to_detectron2_layout(ins.state_dict()),
            'detectron2',
        ),
    )
    index = tmp_path / 'index'
    index.mkdir()
    (index / 'model-index.yml').write_text(
        yaml.safe_dump({'Import': ['metafile.yaml']})
    )
    (index / 'metafile.yaml').write_text(yaml.safe_dump({'Models': entries}))
    monkeypatch.setattr(hub, 'zoo_root', lambda: str(index))
    cache = tmp_path / 'cache'
    monkeypatch.setenv('TORCH_HOME', str(cache))
    monkeypatch.delenv(hub.MIRRORS_ENV, raising=False)
    monkeypatch.delenv(hub.CHECKPOINT_DIR_ENV, raising=False)
    return dict(
        names=names,
        files=files,
        cache=osp.join(str(cache), 'hub', 'checkpoints'),
    )


def _cache_listing(zoo):
    if not osp.isdir(zoo['cache']):
        return []
    return sorted(os.listdir(zoo['cache']))


def test_download_verifies_and_records(zoo, server):
    path = hub.download_checkpoint('ins_model', progress=False)
    assert osp.basename(path) == zoo['names']['ins']
    assert _cache_listing(zoo) == sorted(
        [zoo['names']['ins'], 'mmpointrend-sha256.json']
    )
    # A second call uses the cache: no new request.
    before = len(server.requests)
    assert hub.download_checkpoint('ins_model', progress=False) == path
    assert len(server.requests) == before
    # A cached file that changes no longer matches its recorded sha256.
    with open(path, 'ab') as f:
        f.write(b'x')
    with pytest.raises(hub.ChecksumError, match='recorded'):
        hub.download_checkpoint('ins_model', progress=False)


def test_corrupt_download_is_refused_and_not_cached(zoo, server):
    name = zoo['names']['ins']
    data, _ = server.files[f'/zoo/{name}']
    server.files[f'/zoo/{name}'] = (data[:-10] + b'0123456789', 'ok')
    with pytest.raises(hub.DownloadError, match='promises sha256'):
        hub.download_checkpoint('ins_model', progress=False)
    assert [f for f in _cache_listing(zoo) if 'ins_model' in f] == []


def test_interrupted_transfer_leaves_nothing(zoo, server):
    name = zoo['names']['ins']
    data, _ = server.files[f'/zoo/{name}']
    server.files[f'/zoo/{name}'] = (data, 'truncate')
    with pytest.raises(hub.DownloadError):
        hub.download_checkpoint('ins_model', progress=False)
    assert [f for f in _cache_listing(zoo) if 'ins_model' in f] == []


def test_mirrors_are_tried_in_order(zoo, server, monkeypatch):
    name = zoo['names']['ins']
    data, _ = server.files[f'/zoo/{name}']
    server.files[f'/good/{name}'] = (data, 'ok')
    server.files[f'/zoo/{name}'] = (b'', '404')  # the publisher is down
    monkeypatch.setenv(
        hub.MIRRORS_ENV, f'{server.url}/missing, {server.url}/good'
    )
    path = hub.download_checkpoint('ins_model', progress=False)
    assert osp.isfile(path)
    assert server.requests[-2:] == [f'/missing/{name}', f'/good/{name}']


def test_every_mirror_is_tried_whatever_fails(zoo, server, monkeypatch):
    """Every failure is one failed source; the next one is tried.

    A malformed entry, a bad status line and a cut chunked transfer; no
    temporary file is left behind.
    """
    name = zoo['names']['ins']
    data, _ = server.files[f'/zoo/{name}']
    server.files[f'/bad/{name}'] = (data, 'badstatus')
    server.files[f'/cut/{name}'] = (data, 'chunkcut')
    server.files[f'/zoo/{name}'] = (data, 'ok')
    monkeypatch.setenv(
        hub.MIRRORS_ENV,
        f'not-a-url, ftp:/x, {server.url}/bad {server.url}/cut',
    )
    path = hub.download_checkpoint('ins_model', progress=False)
    assert osp.isfile(path)
    assert server.requests[-3:] == [
        f'/bad/{name}',
        f'/cut/{name}',
        f'/zoo/{name}',
    ]
    assert _cache_listing(zoo) == sorted([name, 'mmpointrend-sha256.json'])
    # all failing: one error that lists each source and why
    os.remove(path)
    server.files[f'/zoo/{name}'] = (data, 'chunkcut')
    with pytest.raises(hub.DownloadError) as info:
        hub.download_checkpoint('ins_model', progress=False)
    message = str(info.value)
    for source in ('not-a-url', 'ftp:/x', '/bad/', '/cut/', '/zoo/'):
        assert source in message
    assert 'IncompleteRead' in message or 'stopped after' in message
    assert [f for f in _cache_listing(zoo) if name in f] == []


@pytest.mark.parametrize('content', [b'{not json', b'[1, 2]', b'{"a": 3}'])
def test_bad_hash_record_is_named(zoo, server, content):
    os.makedirs(zoo['cache'], exist_ok=True)
    record = osp.join(zoo['cache'], 'mmpointrend-sha256.json')
    with open(record, 'wb') as f:
        f.write(content)
    with pytest.raises(hub.ChecksumError) as info:
        hub.download_checkpoint('ins_model', progress=False)
    assert record in str(info.value) and 'Delete it' in str(info.value)


def test_non_zoo_url_is_checked_before_it_is_cached(
    tmp_path, server, monkeypatch
):
    """A truncated or corrupt file never enters the cache.

    A corrupt cached file is downloaded again.
    """
    from mmengine.runner.checkpoint import _load_checkpoint

    from mmpointrend.checkpoint import CorruptCheckpointError

    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    cache = tmp_path / 'torch' / 'hub' / 'checkpoints'
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': {'w': torch.arange(3.0)}}, good)
    data = good.read_bytes()
    url = f'{server.url}/other/weights.pth'
    server.files['/other/weights.pth'] = (data, 'truncate')
    with pytest.raises(hub.DownloadError, match='stopped after'):
        _load_checkpoint(url, 'cpu')
    assert not cache.exists() or list(cache.iterdir()) == []
    server.files['/other/weights.pth'] = (b'not a checkpoint at all', 'ok')
    with pytest.raises(CorruptCheckpointError, match=url):
        _load_checkpoint(url, 'cpu')
    assert list(cache.iterdir()) == []
    server.files['/other/weights.pth'] = (data, 'ok')
    (cache / 'weights.pth').write_bytes(data[:100])  # an old, cut download
    with pytest.warns(UserWarning, match='corrupt'):
        loaded = _load_checkpoint(url, 'cpu')
    assert torch.equal(loaded['state_dict']['w'], torch.arange(3.0))
    assert (cache / 'weights.pth').read_bytes() == data
    assert sorted(p.name for p in cache.iterdir()) == ['weights.pth']


def test_offline_error_names_the_file_and_where_to_put_it(zoo, server):
    name = zoo['names']['sem']
    server.files[f'/zoo/{name}'] = (b'', '404')
    with pytest.raises(hub.DownloadError) as info:
        hub.download_checkpoint('sem_model', progress=False)
    message = str(info.value)
    assert name in message and osp.join(zoo['cache'], name) in message
    assert hub.CHECKPOINT_DIR_ENV in message


def test_local_folder_of_predownloaded_files(zoo, server, monkeypatch):
    monkeypatch.setenv(hub.CHECKPOINT_DIR_ENV, str(zoo['files']))
    before = len(server.requests)
    path = hub.download_checkpoint('ins_model', progress=False)
    assert osp.isfile(path) and len(server.requests) == before


def test_unknown_name_suggests_close_ones(zoo):
    with pytest.raises(KeyError, match='Did you mean ins_model'):
        hub.get_model_info('ins_modle')


def test_unverifiable_publisher_is_said_plainly(zoo):
    with pytest.warns(UserWarning, match='cannot be verified'):
        hub.download_checkpoint('sem_model', progress=False)


@pytest.fixture(scope='module')
def image(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic'))
    generate_synthetic_dataset(root, num_train=1, num_val=1, size=128, seed=8)
    return sorted(glob.glob(osp.join(root, 'img_dir', 'val', '*')))[0]


@pytest.mark.parametrize('key', ['sem', 'ins', 'ins_d2'])
def test_zoo_weights_predict_like_the_original_model(
    zoo, originals, image, key
):
    """Zoo name -> download -> convert on load = the model it was made from.

    The published files hold the original models' weights in mmseg's,
    mmdet's and detectron2's layouts; loaded by name, each must predict
    exactly what the original model predicts on an image.
    """
    ours = init_model(f'{key}_model')
    # the zoo's copy was verified by its publisher's hash convention
    assert osp.isfile(osp.join(zoo['cache'], osp.basename(zoo['names'][key])))
    original = originals['sem' if key == 'sem' else 'ins']
    original.cfg = ours.cfg
    original.dataset_meta = ours.dataset_meta
    a, b = (
        inference_model(ours, image),
        inference_model(original.eval(), image),
    )
    if key == 'sem':
        assert torch.equal(a.seg_logits.data, b.seg_logits.data)
        assert torch.equal(a.pred_sem_seg.data, b.pred_sem_seg.data)
        assert a.seg_logits.data.std() > 0
    else:
        assert len(a.pred_instances) > 0  # a comparison of something
        assert torch.equal(a.pred_instances.bboxes, b.pred_instances.bboxes)
        assert torch.equal(a.pred_instances.scores, b.pred_instances.scores)
        assert torch.equal(a.pred_instances.masks, b.pred_instances.masks)


def test_command_line_download_and_list(zoo, server, tmp_path, capsys):
    """``python -m mmpointrend.hub``: the zoo from a shell, any install."""
    dest = tmp_path / 'dest'
    assert hub.main(['download', 'ins_model', '--dest', str(dest)]) == 0
    path = capsys.readouterr().out.strip()
    assert path == str(dest / zoo['names']['ins'])
    assert osp.isfile(path)
    assert hub.main(['download', 'ins_modle']) == 2
    assert 'Did you mean ins_model' in capsys.readouterr().err
    server.files[f'/zoo/{zoo["names"]["sem"]}'] = (b'', '404')
    with pytest.warns(UserWarning, match='cannot be verified'):
        assert hub.main(['download', 'sem_model']) == 1
    assert 'Without network' in capsys.readouterr().err
    assert hub.main(['list', 'd2']) == 0
    assert capsys.readouterr().out.split() == ['ins_d2_model']
