"""The model zoo ships inside the package: editable checkout and built wheel.

``mmpointrend/.mim/{configs,model-index.yml}`` are symlinks in the
repository (editable installs read them in place) and copies in a wheel;
``mim download mmpointrend --config NAME`` reads them from an installed
wheel and fetches the weights (here from a local server, 127.0.0.1 only).
"""

from __future__ import annotations

import http.server
import os
import os.path as osp
import subprocess
import sys
import threading
import zipfile

import pytest
import yaml

from mmpointrend.checkpoint import zoo as hub

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
pytestmark = pytest.mark.slow


def test_editable_checkout_has_the_zoo():
    root = hub.zoo_root()
    assert osp.isfile(osp.join(root, 'model-index.yml'))
    models = hub.load_model_index()
    assert len(models) == 12
    for info in models.values():
        assert osp.isfile(info.config), info.config
        assert info.weight_format in ('mmseg', 'mmdet', 'detectron2')
        assert info.hash_convention in hub.HASH_CONVENTIONS
        # each publisher's naming, as recorded in the metafile
        if info.hash_convention != 'mmseg-sha256-prefix':
            assert hub.expected_prefix(info.filename, info.hash_convention)


def test_mmengine_scope_lookup_knows_mmpointrend():
    from mmengine.config.utils import MODULE2PACKAGE

    import mmpointrend  # noqa: F401

    assert MODULE2PACKAGE['mmpointrend'] == 'mmpointrend'


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp('wheel')
    proc = subprocess.run(
        [
            sys.executable,
            '-m',
            'pip',
            'wheel',
            '--no-deps',
            '--no-build-isolation',
            '-q',
            '-w',
            str(out),
            ROOT,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = [osp.join(out, f) for f in os.listdir(out) if f.endswith('.whl')]
    return path


def test_wheel_contains_configs_and_model_index(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert 'mmpointrend/.mim/model-index.yml' in names
    for info in hub.load_model_index().values():
        rel = osp.relpath(info.config, hub.zoo_root())
        assert f'mmpointrend/.mim/{rel}' in names, rel
    assert 'mmpointrend/.mim/configs/sem_fpn/metafile.yaml' in names
    assert 'mmpointrend/.mim/configs/_base_/datasets/synthetic_seg.py' in names


def test_mim_download_from_the_installed_wheel(wheel, tmp_path):
    target = tmp_path / 'site'
    subprocess.run(
        [
            sys.executable,
            '-m',
            'pip',
            'install',
            '-q',
            '--no-deps',
            '--target',
            str(target),
            wheel,
        ],
        check=True,
        timeout=300,
    )
    name = 'pointrend_mask-rcnn_r50-caffe_fpn_ms-1x_coco'
    payload = b'checkpoint bytes'
    filename = 'point_rend_r50_caffe_fpn_mstrain_1x_coco-1bcb5fb4.pth'

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            self.send_response(200)
            self.send_header('Content-Length', str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    timer = threading.Timer(300, server.shutdown)
    timer.start()
    try:
        # Point the installed copy's weights at the local server.
        metafile = target / 'mmpointrend/.mim/configs/mask_rcnn/metafile.yaml'
        meta = yaml.safe_load(metafile.read_text())
        port = server.server_address[1]
        for entry in meta['Models']:
            entry['Weights'] = f'http://127.0.0.1:{port}/{filename}'
        metafile.write_text(yaml.safe_dump(meta))
        dest = tmp_path / 'dest'
        env = dict(os.environ, PYTHONPATH=str(target))
        proc = subprocess.run(
            [
                sys.executable,
                '-c',
                'from mim.cli import cli; cli()',
                'download',
                'mmpointrend',
                '--config',
                name,
                '--dest',
                str(dest),
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=str(tmp_path),
            timeout=300,
        )
    finally:
        timer.cancel()
        server.shutdown()
        server.server_close()
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert (dest / filename).read_bytes() == payload
    assert (dest / f'{name}.py').is_file()
