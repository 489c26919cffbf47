"""Before/after study of the mask refiner on two datasets and three inputs.

Per dataset (``synthetic``, ``dsb2018``) and refiner seed:

* **degraded**: the refiner config is trained with ``tools/train.py``
  and its validation masks degraded with the config's fixed seed are
  scored by ``tools/test.py`` unrefined (``model.test_cfg.render=False``)
  and refined: mask AP and Boundary AP;
* **mask-rcnn**: this project's Mask R-CNN baseline (28x28 masks), trained
  once (seed 0), predicts the validation images with ``tools/infer.py``;
  ``tools/refine.py`` refines its instance files; mask AP and Boundary AP
  of both folders;
* **semantic-fpn**: the SemanticFPN baseline's stride-4 label maps, the
  same way with ``tools/refine.py --semantic``; mIoU and Boundary mIoU.

Every step's output is kept under ``--work-dir`` and reused (trained
checkpoints, prediction folders, ``results.json``), so a stopped study
continues where it was. The tables go to the ``refine-study`` block of
``--out``, the before/after picture to ``--picture``.

Example:
    python tools/analysis/refine_study.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import re
import subprocess
import sys
from dataclasses import dataclass

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PY = sys.executable


@dataclass(frozen=True)
class StudyData:
    """A dataset of the study: its refiner and the baselines refined."""

    refiner: str  # refiner config
    iters: int  # refiner schedule
    mask_rcnn: tuple[str, int]  # (config, iterations)
    semantic_fpn: tuple[str, int]
    num_classes: int  # semantic classes, background included


DATA = {
    'synthetic': StudyData(
        'configs/refiner/pointrend-refiner_r18-slim_fpn_2xb2-400_synthetic.py',
        400,
        (
            'configs/synthetic/mask-rcnn_r18-slim_fpn_2xb2-400_synthetic.py',
            400,
        ),
        ('configs/synthetic/fpn_r18-slim_2xb4-600_synthetic-256x256.py', 600),
        5,
    ),
    'dsb2018': StudyData(
        'configs/refiner/pointrend-refiner_r18-slim_fpn_1xb2-300_dsb2018.py',
        300,
        ('configs/dsb2018/mask-rcnn_r18-slim_fpn_2xb1-300_dsb2018.py', 300),
        ('configs/dsb2018/fpn_r18-slim_2xb4-300_dsb2018-256x256.py', 300),
        2,
    ),
}
INPUTS = ('degraded', 'degraded-objects', 'mask-rcnn', 'semantic-fpn')
TITLES = {
    'degraded': 'degraded ground truth',
    'degraded-objects': 'degraded ground truth, per object',
    'mask-rcnn': "Mask R-CNN's 28x28 masks",
    'semantic-fpn': "SemanticFPN's stride-4 label maps",
}


def _run(cmd: list[str], log: str) -> str:
    """Run a tool from the repository root; its output goes to ``log``."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    os.makedirs(osp.dirname(log), exist_ok=True)
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True
    )
    with open(log, 'w') as f:
        f.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f'failed: {" ".join(cmd)}; log: {log}')
    return proc.stdout + proc.stderr


def data_options(root: str, instance: bool) -> list[str]:
    """``--cfg-options`` pointing a config at the dataset in ``root``."""
    options = [
        f'{split}_dataloader.dataset.data_root={root}'
        for split in ('train', 'val', 'test')
    ]
    if instance:
        ann = osp.join(root, 'annotations', 'instances_val.json')
        options += [f'val_evaluator.ann_file={ann}']
        options += [f'test_evaluator.ann_file={ann}']
    return options


def train(
    config: str, iters: int, seed: int, root: str, work: str, instance: bool
) -> str:
    """Train ``config`` unless its last checkpoint exists; return it."""
    checkpoint = osp.join(work, f'iter_{iters}.pth')
    if osp.isfile(checkpoint):
        return checkpoint
    print(f'    training {config} (seed {seed}) in {work}', flush=True)
    cmd = [PY, 'tools/train.py', config, '--work-dir', work]
    cmd += ['--cfg-options', *data_options(root, instance)]
    cmd += [f'randomness.seed={seed}', f'train_cfg.max_iters={iters}']
    cmd += ['default_hooks.visualization.draw=False']
    _run(cmd, osp.join(work, 'train.log'))
    return checkpoint


def degraded_scores(
    data: StudyData, checkpoint: str, root: str, work: str
) -> dict:
    """Mask AP / Boundary AP of the degraded validation masks, both ways."""
    result = {}
    for side, render in (('before', False), ('after', True)):
        cmd = [PY, 'tools/test.py', data.refiner, checkpoint]
        cmd += ['--work-dir', osp.join(work, side), '--cfg-options']
        cmd += [*data_options(root, True), f'model.test_cfg.render={render}']
        out = _run(cmd, osp.join(work, f'{side}.log'))
        result[side] = {}
        for key in ('segm_mAP', 'boundary_mAP'):
            found = re.findall(rf'coco/{key}: ([\d.]+)', out)
            if found:
                result[side][key] = float(found[-1])
    return result


def degraded_through_api(refiner: str, checkpoint: str, root: str):
    """Each validation image's objects degraded and refined in-process.

    The masks are degraded at the image's own size with the refiner's test
    seed (``tools/test.py`` degrades them at the test pipeline's scale:
    the same for the synthetic images, 1.25x for DSB2018) and refined with
    :func:`refine_masks`.

    Yields:
        tuple: File name, (H, W, 3) BGR image, and (N, H, W) bool ground
        truth, coarse (probability >= 0.5) and refined masks.
    """
    import cv2
    import numpy as np
    import torch
    from pycocotools.coco import COCO

    from mmpointrend.apis import init_model, refine_masks
    from mmpointrend.models.refiners import degrade_masks

    model = init_model(refiner, checkpoint, device='cpu')
    degrade = model.train_cfg.get('degrade', {})
    coco = COCO(osp.join(root, 'annotations', 'instances_val.json'))
    for image_id in sorted(coco.imgs):
        rel = coco.imgs[image_id]['file_name']
        anns = coco.loadAnns(coco.getAnnIds(imgIds=image_id))
        if not anns:
            continue
        image = cv2.imread(osp.join(root, 'img_dir', 'val', rel))
        gt = np.stack([coco.annToMask(a) for a in anns]) > 0
        gen = torch.Generator().manual_seed(model.test_cfg.get('seed', 0))
        coarse = degrade_masks(torch.from_numpy(gt), gen, **degrade).numpy()
        refined = refine_masks(model, image, coarse)
        yield rel, image, gt, coarse >= 0.5, refined


def degraded_object_scores(data: StudyData, checkpoint: str, root: str):
    """Mean mask IoU / Boundary IoU per object, before and after."""
    from mmpointrend.analysis.refine_report import object_scores

    gts, before, after = [], [], []
    for _, _, gt, coarse, refined in degraded_through_api(
        data.refiner, checkpoint, root
    ):
        gts.append(gt)
        before.append(coarse)
        after.append(refined)
    return dict(
        before=object_scores(gts, before), after=object_scores(gts, after)
    )


def predict(config: str, checkpoint: str, images: str, out: str) -> str:
    """``tools/infer.py`` over ``images`` (resumes what exists)."""
    cmd = [PY, 'tools/infer.py', config, images, '--checkpoint', checkpoint]
    cmd += ['--out-dir', out, '--device', 'cpu']
    _run(cmd, out + '.log')
    return out


def refine(
    data: StudyData,
    checkpoint: str,
    images: str,
    masks: str,
    out: str,
    semantic: bool,
) -> None:
    """``tools/refine.py`` over a prediction folder (resumes what exists)."""
    cmd = [PY, 'tools/refine.py', images, masks, '--config', data.refiner]
    cmd += ['--checkpoint', checkpoint, '--out-dir', out, '--device', 'cpu']
    if semantic:
        cmd += ['--semantic']
    _run(cmd, out + '.log')


def baseline_dir(base: str, kind: str, iters: int | None) -> str:
    """Work folder of a baseline (``--iters`` runs get their own)."""
    return osp.join(base, kind if iters is None else f'{kind}_{iters}')


def run_dataset(
    name: str,
    root: str,
    seeds: list[int],
    work: str,
    results: list[dict],
    iters: int | None = None,
):
    """Every missing record of one dataset, appended to ``results``.

    ``iters`` replaces every schedule (refiner and baselines; a quick check
    that the study runs). Yields after each new record so the caller can
    store it.
    """
    from mmpointrend.analysis.refine_report import (
        instance_scores,
        semantic_scores,
    )

    data = DATA[name]
    images = osp.join(root, 'img_dir', 'val')
    ann = osp.join(root, 'annotations', 'instances_val.json')
    base = osp.join(work, name)
    steps = iters or data.iters

    def done(kind: str, seed: int) -> bool:
        return any(
            (r['dataset'], r['input'], r['seed'], r['iters'])
            == (name, kind, seed, steps)
            for r in results
        )

    def baseline(kind: str) -> str:
        config, default = getattr(data, kind.replace('-', '_'))
        folder = baseline_dir(base, kind, iters)
        ckpt = train(
            config, iters or default, 0, root, folder, kind == 'mask-rcnn'
        )
        return predict(config, ckpt, images, osp.join(folder, 'pred'))

    for seed in seeds:
        folder = osp.join(base, f'seed{seed}_{steps}')
        if all(done(kind, seed) for kind in INPUTS):
            print(f'  {name} seed {seed}: done', flush=True)
            continue
        ckpt = train(data.refiner, steps, seed, root, folder, True)
        if not done('degraded', seed):
            record = degraded_scores(data, ckpt, root, folder)
            results.append(
                dict(dataset=name, input='degraded', seed=seed, iters=steps)
            )
            results[-1].update(record)
            yield
        if not done('degraded-objects', seed):
            results.append(
                dict(
                    dataset=name,
                    input='degraded-objects',
                    seed=seed,
                    iters=steps,
                    **degraded_object_scores(data, ckpt, root),
                )
            )
            yield
        for kind in ('mask-rcnn', 'semantic-fpn'):
            if done(kind, seed):
                continue
            before = baseline(kind)
            after = osp.join(folder, f'refined_{kind}')
            semantic = kind == 'semantic-fpn'
            refine(data, ckpt, images, before, after, semantic)
            if semantic:
                scores = [
                    semantic_scores(
                        osp.join(root, 'ann_dir', 'val'), d, data.num_classes
                    )
                    for d in (before, after)
                ]
            else:
                scores = [instance_scores(ann, d) for d in (before, after)]
            results.append(
                dict(
                    dataset=name,
                    input=kind,
                    seed=seed,
                    iters=steps,
                    before=scores[0],
                    after=scores[1],
                )
            )
            yield


def report(
    results: list[dict], seeds: list[int], command: str, iters: int | None
) -> str:
    """The Markdown block: one table per dataset and input."""
    from mmpointrend.analysis.measure import machine
    from mmpointrend.analysis.refine_report import (
        INSTANCE_KEYS,
        OBJECT_KEYS,
        SEMANTIC_KEYS,
        study_table,
    )

    refiners = ', '.join(
        f'`{d.refiner}` ({d.iters} iterations)' for d in DATA.values()
    )
    baselines = ', '.join(
        f'`{config}`'
        for d in DATA.values()
        for config, _ in (d.mask_rcnn, d.semantic_fpn)
    )
    lines = [
        f'`{command}` on {machine()}. Refiners: {refiners}, one per seed. '
        f'Baselines (trained once, seed 0, one process): {baselines}. '
        'Scores in %.',
        '',
    ]
    current = [
        r
        for r in results
        if r['seed'] in seeds
        and r['iters'] == (iters or DATA[r['dataset']].iters)
    ]
    for name in DATA:
        for kind in INPUTS:
            keys = {
                'semantic-fpn': SEMANTIC_KEYS,
                'degraded-objects': OBJECT_KEYS,
            }.get(kind, INSTANCE_KEYS)
            table = study_table(current, name, kind, keys)
            if table:
                lines += [f'**{name}, {TITLES[kind]}**', '', *table, '']
    return '\n'.join(lines)


def _confident_union(path: str, shape: tuple[int, int], thr: float = 0.5):
    """Union of the masks scored ``thr`` or more in an instance file."""
    import numpy as np
    from pycocotools import mask as mask_utils

    with open(path) as f:
        doc = json.load(f)
    union = np.zeros(shape, bool)
    for inst in doc['instances']:
        if inst['score'] >= thr:
            union |= mask_utils.decode(inst['segmentation']).astype(bool)
    return union


def draw(
    results_dir: str, roots: dict, seed: int, path: str, iters: int | None
) -> None:
    """The before/after picture: each dataset x input, seed ``seed``.

    Each panel shows the validation object around which refinement fixed
    most (:func:`best_crop` over every image). Degraded ground truth is
    drawn as :func:`degraded_through_api` gives it; Mask R-CNN's masks are
    those scored 0.5 or more.
    """
    import cv2

    from mmpointrend.analysis.refine_report import best_crop, picture

    panels = []
    for name, root in roots.items():
        data = DATA[name]
        steps = iters or data.iters
        folder = osp.join(results_dir, name, f'seed{seed}_{steps}')
        ckpt = osp.join(folder, f'iter_{steps}.pth')
        if not osp.isfile(ckpt):
            continue
        best: dict[str, tuple] = {}
        for rel, image, objects, coarse, refined in degraded_through_api(
            data.refiner, ckpt, root
        ):
            sides = {'degraded': (coarse.any(0), refined.any(0))}
            base = osp.join(results_dir, name)
            kind = 'mask-rcnn'
            sides[kind] = tuple(
                _confident_union(osp.join(d, rel + '.json'), image.shape[:2])
                for d in (
                    osp.join(baseline_dir(base, kind, iters), 'pred'),
                    osp.join(folder, f'refined_{kind}'),
                )
            )
            kind = 'semantic-fpn'
            sides[kind] = tuple(
                cv2.imread(osp.join(d, rel + '.png'), cv2.IMREAD_UNCHANGED) > 0
                for d in (
                    osp.join(baseline_dir(base, kind, iters), 'pred'),
                    osp.join(folder, f'refined_{kind}'),
                )
            )
            for kind, (before, after) in sides.items():
                gain, crop = best_crop(objects, before, after)
                if kind not in best or gain > best[kind][0]:
                    best[kind] = (gain, crop, image, objects, before, after)
        for kind in INPUTS:
            if kind not in best:
                continue
            _, crop, image, objects, before, after = best[kind]
            panels.append(
                dict(
                    title=f'{name}: {TITLES[kind]}',
                    image=image,
                    gt=objects.any(0),
                    before=before,
                    after=after,
                    crop=crop,
                )
            )
    if panels:
        picture(panels, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument(
        '--datasets', nargs='+', choices=list(DATA), default=list(DATA)
    )
    parser.add_argument(
        '--iters',
        type=int,
        default=None,
        help="every schedule's length (default: each config's)",
    )
    parser.add_argument('--synthetic-root', default='data/synthetic')
    parser.add_argument('--dsb2018-root', default='data/dsb2018')
    parser.add_argument('--work-dir', default='work_dirs/refine_study')
    parser.add_argument('--out', default='docs/refine.md')
    parser.add_argument(
        '--picture', default='docs/images/refine_before_after.png'
    )
    args = parser.parse_args()
    from mmpointrend.analysis.measure import replace_block
    from mmpointrend.checkpoint.io import write_text
    from mmpointrend.dataset_makers import prepare_dataset

    roots = {
        name: osp.abspath(getattr(args, f'{name}_root'))
        for name in args.datasets
    }
    store = osp.join(args.work_dir, 'results.json')
    results: list[dict] = []
    if osp.isfile(store):
        with open(store) as f:
            results = json.load(f)
    for name, root in roots.items():
        prepare_dataset(name, root)
        print(f'{name} ({root})', flush=True)
        for _ in run_dataset(
            name, root, args.seeds, args.work_dir, results, args.iters
        ):
            print(f'    {results[-1]}', flush=True)
            write_text(store, json.dumps(results, indent=2))
    command = 'python tools/analysis/refine_study.py --seeds ' + ' '.join(
        map(str, args.seeds)
    )
    if args.iters is not None:
        command += f' --iters {args.iters}'
    replace_block(
        args.out,
        'refine-study',
        report(results, args.seeds, command, args.iters),
    )
    print(f'wrote {args.out}')
    draw(args.work_dir, roots, min(args.seeds), args.picture, args.iters)
    print(f'wrote {args.picture}')


if __name__ == '__main__':
    main()
