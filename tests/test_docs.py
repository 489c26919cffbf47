"""Layer 3: the docs point at files that exist and recipes that match.

The reproduction guides quote config paths, tool paths and the GPU x batch
of each recipe; a renamed config or a changed batch size must fail here
rather than mislead a user with a cluster booked.
"""

import glob
import os.path as osp
import re

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DOCS = sorted(
    glob.glob(osp.join(ROOT, 'docs', '**', '*.md'), recursive=True)
) + [osp.join(ROOT, 'README.md')]
PATH = re.compile(r'(?<![\w/.-])((?:configs|tools)/[\w./{},-]+\.(?:py|sh))')


def _expand(path: str) -> list[str]:
    """``a_{x,y}_b`` -> ``a_x_b``, ``a_y_b`` (the docs' shorthand)."""
    match = re.search(r'\{([^{}]*)\}', path)
    if not match:
        return [path]
    return [
        q
        for alt in match.group(1).split(',')
        for q in _expand(path[: match.start()] + alt + path[match.end() :])
    ]


@pytest.mark.parametrize('doc', DOCS, ids=lambda p: osp.relpath(p, ROOT))
def test_paths_in_docs_exist(doc):
    text = open(doc).read()
    paths = [p for raw in PATH.findall(text) for p in _expand(raw)]
    missing = [p for p in paths if not osp.exists(osp.join(ROOT, p))]
    assert not missing, f'{osp.relpath(doc, ROOT)} names missing files'


def test_reproduction_guides_cover_the_benchmarks():
    names = {
        osp.basename(p)
        for p in glob.glob(osp.join(ROOT, 'docs', 'reproduce', '*.md'))
    }
    assert {'cityscapes.md', 'ade20k.md', 'coco.md'} <= names


ROW = re.compile(
    r'^\| `(configs/[\w./-]+\.py)` \| (\d+) x (\d+) \|.*'
    r'dist_train\.sh (configs/[\w./-]+\.py) (\d+)`',
    re.M,
)


def test_recipe_rows_match_the_configs():
    rows = []
    for doc in glob.glob(osp.join(ROOT, 'docs', 'reproduce', '*.md')):
        rows += ROW.findall(open(doc).read())
    assert len(rows) >= 10
    for config, gpus, per_gpu, command_config, command_gpus in rows:
        # the command trains the row's config on the row's GPU count
        assert (command_config, command_gpus) == (config, gpus)
        cfg = Config.fromfile(osp.join(ROOT, config))
        assert cfg.train_dataloader.batch_size == int(per_gpu), config
        # the config's name states the same recipe, e.g. ..._4xb2-80k_...
        name = re.search(r'_(\d+)xb(\d+)-', osp.basename(config))
        if name:
            assert name.groups() == (gpus, per_gpu), config


def test_model_zoo_page_is_generated_from_the_metafiles():
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, 'tools/misc/gen_model_zoo.py', '--check'],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
