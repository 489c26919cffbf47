"""Before/after study of the mask refiner on degraded ground truth.

For each seed: train ``configs/refiner/...synthetic.py`` with
``tools/train.py``, then score the validation masks degraded with the
config's fixed seed twice with ``tools/test.py``: unrefined
(``model.test_cfg.render=False``) and refined. Mask AP and Boundary AP
(COCO-style, the masks' own classes, score 1) go to ``results.json`` in the
work folder (finished seeds are reused) and a table to the
``refine-study`` block of ``--out``.

Example:
    python tools/analysis/refine_study.py --seeds 0 1 2 --out docs/refine.md
"""

from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import re
import statistics
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = 'configs/refiner/pointrend-refiner_r18-slim_fpn_2xb2-400_synthetic.py'
KEYS = (('coco/segm_mAP', 'mask AP'), ('coco/boundary_mAP', 'Boundary AP'))


def _run(cmd: list[str], log: str) -> str:
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


def _metrics(out: str) -> dict:
    found = {}
    for key, _ in KEYS:
        values = re.findall(rf'{re.escape(key)}: ([\d.]+)', out)
        if values:
            found[key] = float(values[-1])
    return found


def run_seed(seed: int, iters: int, data_root: str, work: str) -> dict:
    """Train one seed and score its validation masks before and after."""
    ann = osp.join(data_root, 'annotations', 'instances_val.json')
    data = [
        f'{split}_dataloader.dataset.data_root={data_root}'
        for split in ('train', 'val', 'test')
    ] + [f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}']
    start = time.perf_counter()
    _run(
        [
            sys.executable,
            'tools/train.py',
            CONFIG,
            '--work-dir',
            work,
            '--cfg-options',
            *data,
            f'randomness.seed={seed}',
            f'train_cfg.max_iters={iters}',
            f'train_cfg.val_interval={iters}',
            f'default_hooks.checkpoint.interval={iters}',
        ],  # fmt: skip
        osp.join(work, 'train.log'),
    )
    seconds = time.perf_counter() - start
    checkpoint = osp.join(work, f'iter_{iters}.pth')
    result = dict(seed=seed, iters=iters, train_seconds=round(seconds, 1))
    for name, render in (('before', False), ('after', True)):
        out = _run(
            [
                sys.executable,
                'tools/test.py',
                CONFIG,
                checkpoint,
                '--work-dir',
                osp.join(work, name),
                '--cfg-options',
                *data,
                f'model.test_cfg.render={render}',
            ],  # fmt: skip
            osp.join(work, f'{name}.log'),
        )
        result[name] = _metrics(out)
    return result


def table(results: list[dict], command: str) -> str:
    """The Markdown block: one row per seed, then the medians."""
    from mmpointrend.analysis.measure import machine

    head = '| seed | ' + ' | '.join(
        f'{title} before | {title} after' for _, title in KEYS
    )
    lines = [
        f'`{command}` on {machine()}; '
        f'{results[0]["iters"]} training iterations per seed; validation '
        "masks degraded with the config's fixed seed.",
        '',
        head + ' |',
        '|---' * (1 + 2 * len(KEYS)) + '|',
    ]
    for r in sorted(results, key=lambda r: r['seed']):
        cells = []
        for key, _ in KEYS:
            cells += [
                f'{100 * r["before"].get(key, float("nan")):.1f}',
                f'{100 * r["after"].get(key, float("nan")):.1f}',
            ]
        lines.append(f'| {r["seed"]} | ' + ' | '.join(cells) + ' |')
    cells = []
    for key, _ in KEYS:
        for side in ('before', 'after'):
            vals = [r[side][key] for r in results if key in r[side]]
            cells.append(
                f'{100 * statistics.median(vals):.1f}' if vals else 'n/a'
            )
    lines.append('| median | ' + ' | '.join(cells) + ' |')
    better = {
        title: all(r['after'][key] > r['before'][key] for r in results)
        for key, title in KEYS
    }
    lines += [
        '',
        'After > before on every seed: '
        + ', '.join(f'{t}: {"yes" if v else "no"}' for t, v in better.items())
        + '.',
        '',
    ]
    return '\n'.join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument('--iters', type=int, default=400)
    parser.add_argument('--synthetic-root', default='data/synthetic')
    parser.add_argument('--work-dir', default='work_dirs/refine_study')
    parser.add_argument('--out', default='docs/refine.md')
    args = parser.parse_args()
    from mmpointrend.analysis.measure import replace_block
    from mmpointrend.checkpoint.io import write_text

    if not osp.isdir(osp.join(args.synthetic_root, 'img_dir')):
        from mmpointrend.dataset_makers import generate_synthetic_dataset

        print(f'writing the synthetic dataset to {args.synthetic_root}')
        generate_synthetic_dataset(args.synthetic_root)
    store = osp.join(args.work_dir, 'results.json')
    results = []
    if osp.isfile(store):
        with open(store) as f:
            results = json.load(f)
    for i, seed in enumerate(args.seeds, 1):
        if any(
            r['seed'] == seed and r['iters'] == args.iters for r in results
        ):
            print(f'[{i}/{len(args.seeds)}] seed {seed}: done')
            continue
        print(f'[{i}/{len(args.seeds)}] seed {seed}, {args.iters} iters')
        work = osp.join(args.work_dir, f'seed{seed}_{args.iters}')
        result = run_seed(seed, args.iters, args.synthetic_root, work)
        print(f'    {result}', flush=True)
        results.append(result)
        write_text(store, json.dumps(results, indent=2))
    current = [
        r
        for r in results
        if r['iters'] == args.iters and r['seed'] in args.seeds
    ]
    command = 'python tools/analysis/refine_study.py --seeds ' + ' '.join(
        map(str, args.seeds)
    )
    replace_block(args.out, 'refine-study', table(current, command))
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
