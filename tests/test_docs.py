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


def _architecture_rows():
    text = open(osp.join(ROOT, 'docs', 'architecture.md')).read()
    table = text.split('## Where each concept lives', 1)[1].split('\n## ')[0]
    rows = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if len(cells) != 3 or cells[1] in ('file', '---'):
            continue
        files = re.findall(r'`([\w./-]+)`', cells[1])
        names = re.findall(r'`(\w+(?:\.py)?)`', cells[2])
        rows.append((cells[0][:40], files, names))
    return rows


def test_architecture_cites_files_and_names_that_exist():
    """docs/architecture.md's table cites only what exists.

    Every file exists, and every name in a row is defined in one of the
    row's files (a module or a folder).
    """
    rows = _architecture_rows()
    assert len(rows) >= 20
    for concept, files, names in rows:
        assert files, concept
        sources = []
        for rel in files:
            path = osp.join(ROOT, rel)
            assert osp.exists(path), f'{concept}: {rel} does not exist'
            if osp.isdir(path):
                sources += glob.glob(osp.join(path, '**', '*'), recursive=True)
            else:
                sources.append(path)
        text = '\n'.join(open(p).read() for p in sources if p.endswith('.py'))
        listing = {osp.basename(p) for p in sources}
        for name in names:
            if name.endswith('.py'):
                assert name in listing, f'{concept}: no {name} in {files}'
                continue
            defined = re.search(
                rf'^\s*(?:def|class) {name}\b|^\s*{name}\b.*=|'
                rf'\bdef {name}\(',
                text,
                re.M,
            )
            upstream = name in (
                'BaseCascadeDecodeHead', 'CascadeEncoderDecoder',
                'StandardRoIHead', 'FCNMaskHead', 'TASK_UTILS', 'MODELS',
                'CascadeRoIHead',
            )  # fmt: skip
            assert defined or upstream, f'{concept}: {name} not in {files}'


def test_what_the_tests_prove_names_real_tests():
    """README's claims name tests that exist (a renamed test fails here)."""
    text = open(osp.join(ROOT, 'README.md')).read()
    section = text.split('### What the tests prove')[1].split('\n## ')[0]
    # `tests/x.py`, `tests/x.py::test_y`, a sibling `test_z.py` and a bare
    # `test_y` of the folder of the file named last before it
    pattern = r'`(tests/[\w/]+\.py(?:::\w+)?|test_\w+(?:\.py)?)`'
    folder, checked = None, 0
    for token in re.findall(pattern, section):
        path, _, name = token.partition('::')
        if path.endswith('.py'):
            if not path.startswith('tests/'):
                assert folder, f'{token}: no folder named before it'
                path = osp.relpath(osp.join(folder, path), ROOT)
            assert osp.isfile(osp.join(ROOT, path)), token
            folder = osp.dirname(osp.join(ROOT, path))
        else:
            name = path
        if name:
            assert folder, f'{token}: no file named before it'
            defined = any(
                re.search(rf'^def {name}\(', open(f).read(), re.M)
                for f in glob.glob(osp.join(folder, 'test_*.py'))
            )
            assert defined, f'{token}: no such test in {folder}'
            checked += 1
    assert checked >= 13  # the tests the section names
