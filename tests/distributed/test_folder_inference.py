"""Sharded, resumable inference over an image folder (tools/dist_infer.sh).

Two torchrun processes share a folder; a job killed with SIGKILL half-way
is finished by the same command without redoing or losing an image.
"""

from __future__ import annotations

import json
import os
import os.path as osp
import shutil
import time

import cv2
import numpy as np
import pytest
from _launch import (
    INS_CONFIG,
    SEM_CONFIG,
    finish,
    free_port,
    kill_group,
    run_ok,
    start,
)

from mmpointrend.apis.folder_inference import PARTIAL, list_images
from mmpointrend.dataset_makers import generate_synthetic_dataset

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def image_folder(tmp_path_factory):
    """A nested folder of images (and a file that is not one)."""
    data = str(tmp_path_factory.mktemp('synthetic'))
    generate_synthetic_dataset(data, num_train=1, num_val=24, size=128, seed=5)
    folder = str(tmp_path_factory.mktemp('images'))
    src = osp.join(data, 'img_dir', 'val')
    for i, name in enumerate(sorted(os.listdir(src))):
        sub = osp.join(folder, f'part{i % 3}')
        os.makedirs(sub, exist_ok=True)
        shutil.copy(osp.join(src, name), sub)
    with open(osp.join(folder, 'notes.txt'), 'w') as f:
        f.write('not an image')
    return folder


def _infer(model, folder, out, nproc=2, **kw):
    cmd = [
        'bash', 'tools/dist_infer.sh', model, folder, str(nproc),
        '--out-dir', out,
    ]  # fmt: skip
    for key, value in kw.items():
        cmd += [f'--{key.replace("_", "-")}', str(value)]
    return cmd


def _outputs(out, suffix):
    found = []
    for folder, _, files in os.walk(out):
        found += [
            osp.relpath(osp.join(folder, f), out)
            for f in files
            if f.endswith(suffix)
        ]
    return sorted(found)


def test_list_images_reads_folders_and_lists(image_folder, tmp_path):
    root, images = list_images(image_folder)
    assert len(images) == 24 and all(i.endswith('.png') for i in images)
    listing = tmp_path / 'list.txt'
    listing.write_text(
        '\n'.join(osp.join(image_folder, i) for i in images[:5]) + '\n\n'
    )
    root2, listed = list_images(str(listing))
    assert [osp.join(root2, i) for i in listed] == [
        osp.join(root, i) for i in images[:5]
    ]
    with pytest.raises(FileNotFoundError, match='folder of images'):
        list_images(str(tmp_path / 'missing'))


def test_two_processes_then_kill_and_resume(image_folder, tmp_path):
    out = str(tmp_path / 'preds')
    cmd = _infer(SEM_CONFIG, image_folder, out)
    proc = start(cmd, PORT=free_port())
    deadline = time.time() + 300
    while not _outputs(out, '.png') and time.time() < deadline:
        if proc.poll() is not None:
            break
        time.sleep(0.01)
    kill_group(proc)
    finish(proc)
    done = _outputs(out, '.png')
    assert 0 < len(done) < 24, 'the kill did not land mid-job'
    stamps = {f: os.stat(osp.join(out, f)).st_mtime_ns for f in done}

    log = run_ok(cmd, PORT=free_port())
    summary = json.load(open(osp.join(out, 'summary.json')))
    assert summary['images'] == 24
    assert summary['written'] + summary['skipped'] == 24
    assert summary['skipped'] >= len(done) and summary['failed'] == {}
    assert summary['processes'] == 2
    assert summary['images_per_second'] > 0
    # nothing redone: the files of the killed run are untouched
    for f, stamp in stamps.items():
        assert os.stat(osp.join(out, f)).st_mtime_ns == stamp
    # nothing lost or half-written: one valid label map per image
    _, images = list_images(image_folder)
    assert _outputs(out, '.png') == sorted(i + '.png' for i in images)
    assert not _outputs(out, PARTIAL)
    for rel in images:
        labels = cv2.imread(osp.join(out, rel + '.png'), cv2.IMREAD_UNCHANGED)
        assert labels.shape == (128, 128) and labels.dtype == np.uint8
        assert labels.max() < 5
    assert 'written' in log and 'summary.json' in log

    # a third run has nothing left to do
    run_ok(cmd, PORT=free_port())
    summary = json.load(open(osp.join(out, 'summary.json')))
    assert summary['written'] == 0 and summary['skipped'] == 24


def test_detector_writes_rle_json_and_reports_bad_images(tmp_path):
    folder = tmp_path / 'imgs'
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        img = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
        cv2.imwrite(str(folder / f'{i}.jpg'), img)
    (folder / 'broken.jpg').write_bytes(b'not a jpeg')
    out = str(tmp_path / 'preds')
    cmd = _infer(INS_CONFIG, str(folder), out)
    cmd += ['--cfg-options', 'model.test_cfg.rcnn.score_thr=0']
    proc = start(cmd, PORT=free_port())
    log = finish(proc)
    assert proc.returncode != 0, 'a failed image must fail the job'
    assert 'broken.jpg' in log
    summary = json.load(open(osp.join(out, 'summary.json')))
    assert summary['written'] == 3 and list(summary['failed']) == [
        'broken.jpg'
    ]
    from pycocotools import mask as mask_utils

    total = 0
    for i in range(3):
        doc = json.load(open(osp.join(out, f'{i}.jpg.json')))
        total += len(doc['instances'])
        assert (doc['height'], doc['width']) == (96, 128)
        for inst in doc['instances']:
            rle = dict(
                inst['segmentation'],
                counts=inst['segmentation']['counts'].encode(),
            )
            assert mask_utils.decode(rle).shape == (96, 128)
            assert 0 <= inst['label'] < 4 and len(inst['bbox']) == 4
    assert total > 0  # score_thr=0: the untrained model keeps its boxes
