"""The subdivision visualiser on real configs, checkpoints and images."""

import os.path as osp

import cv2
import pytest
import torch
from conftest import run_tool

from mmpointrend.dataset_makers import generate_synthetic_dataset
from mmpointrend.visualization import load_model

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SEM = osp.join(
    ROOT,
    'configs/synthetic/pointrend_fpn_r18-slim_2xb4-600_synthetic-256x256.py',
)
INS = osp.join(
    ROOT,
    'configs/synthetic/pointrend_mask-rcnn_r18-slim_fpn_2xb2-400_synthetic.py',
)
IMPLICIT = osp.join(
    ROOT,
    'configs/synthetic/'
    'implicit-pointrend_mask-rcnn_r18-slim_fpn_2xb2-400_synthetic.py',
)
TOOL = 'tools/visualization/show_subdivision.py'

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def image(tmp_path_factory):
    root = tmp_path_factory.mktemp('vis_data')
    generate_synthetic_dataset(
        str(root), num_train=1, num_val=1, size=256, seed=5
    )
    return str(root / 'img_dir' / 'val' / 'val_0000.png')


def _checkpoint(config, path):
    model, _ = load_model(config, None)
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return str(path)


def test_semantic_steps_and_comparison(image, tmp_path):
    ckpt = _checkpoint(SEM, tmp_path / 'sem.pth')
    out = tmp_path / 'out'
    proc = run_tool(
        TOOL, SEM, ckpt, image, '--out', out,
        '--compare', SEM, ckpt, '--compare', SEM, ckpt,
        '--captions', 'baseline', 'other', 'pointrend',
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Coarse (stride 4 of 256 = 64x64), then 128x128 and 256x256.
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        'comparison.png',
        'semantic_0_coarse.png',
        'semantic_1_step1.png',
        'semantic_2_step2.png',
        'semantic_subdivision.png',
    ]
    assert cv2.imread(str(out / 'semantic_2_step2.png')).shape == (256, 256, 3)
    # three captioned panels: the two compared models, then this one
    assert cv2.imread(str(out / 'comparison.png')).shape == (256, 768, 3)
    # --crop keeps the same box of every panel
    cropped = run_tool(
        TOOL, SEM, ckpt, image, '--out', tmp_path / 'crop',
        '--compare', SEM, ckpt, '--crop', '10', '20', '110', '70',
    )  # fmt: skip
    assert cropped.returncode == 0, cropped.stderr[-3000:]
    comparison = cv2.imread(str(tmp_path / 'crop' / 'comparison.png'))
    assert comparison.shape == (50, 200, 3)
    # one caption per panel, checked before any model is loaded
    bad = run_tool(
        TOOL, SEM, ckpt, image, '--out', tmp_path / 'bad',
        '--compare', SEM, ckpt, '--captions', 'only-one',
    )  # fmt: skip
    assert bad.returncode == 2
    assert '--captions needs 2 names' in bad.stderr
    assert not (tmp_path / 'bad').exists()


# PointRend: crop + coarse 7x7 + 28 (dense) + 56 + 112 + 224 = 6 panels;
# Implicit PointRend has no coarse mask: crop + 28 + 56 + 112 + 224
@pytest.mark.parametrize('config, panels', [(INS, 6), (IMPLICIT, 5)])
def test_instance_rows_per_detection(image, tmp_path, config, panels):
    ckpt = _checkpoint(config, tmp_path / 'ins.pth')
    out = tmp_path / 'out'
    # Random weights score low: keep every detection so that there are some.
    proc = run_tool(
        TOOL,
        config,
        ckpt,
        image,
        '--out',
        out,
        '--max-dets',
        '2',
        '--cfg-options',
        'model.test_cfg.rcnn.score_thr=0.0',
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = sorted(out.glob('instance_*.png'))
    assert len(rows) == 2
    for row in rows:
        assert cv2.imread(str(row)).shape == (224, panels * 224, 3)


def test_missing_image_is_a_clear_error(tmp_path):
    ckpt = _checkpoint(SEM, tmp_path / 'sem.pth')
    proc = run_tool(
        TOOL, SEM, ckpt, tmp_path / 'nope.png', '--out', tmp_path / 'o'
    )
    assert proc.returncode != 0 and 'does not exist' in proc.stderr
