"""PointRend vs its baseline, several seeds, trained and evaluated here.

Four experiments, each a pair of configs that differ only in the mask /
segmentation head (same backbone, data, schedule and seed):

* ``synthetic-semantic``: SemanticFPN coarse head upsampled bilinearly vs
  the same + PointRend point head, on the synthetic dataset (mIoU, mBIoU);
* ``synthetic-instance``: Mask R-CNN with the 4x conv 28x28 mask head vs
  the PointRend mask branch (mask AP, Boundary AP, box AP);
* ``dsb2018-semantic`` / ``dsb2018-instance``: the same pairs on the DSB2018
  nuclei image bundled with stardist (one image, spatial split).

Every run trains with ``tools/dist_train.sh`` (or ``tools/train.py`` for
``--nproc 1``) and validates once at the end; the metrics are read from the
run's MMEngine scalars. Finished runs are kept in ``<work-dir>/results.json``
and skipped when the study is started again (``--fresh`` re-runs them), so
an interrupted study resumes where it stopped. At the end (and after every
run) it writes a Markdown report with medians, min-max spread and the
per-seed values, and a PNG plot.

Example:
    python tools/analysis/accuracy_study.py            # the full study
    python tools/analysis/accuracy_study.py --experiments dsb2018-semantic
    python tools/analysis/accuracy_study.py --seeds 0 --iters 100
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
from tools.analysis.common import machine, replace_block  # noqa: E402


@dataclass(frozen=True)
class Experiment:
    """A baseline/PointRend config pair and what to report for it."""

    task: str  # 'semantic' or 'instance'
    data: str  # 'synthetic' or 'dsb2018'
    baseline: str
    pointrend: str
    iters: int  # schedule length used by the study
    metrics: tuple[tuple[str, str], ...]  # (scalar key, column title)
    # a second, narrower boundary band evaluated after training (see
    # NARROW_BAND): None to skip
    narrow_band: float | None = None

    @property
    def boundary_key(self) -> str:
        """The metric key of the boundary score."""
        return 'mBIoU' if self.task == 'semantic' else 'coco/boundary_mAP'

    @property
    def columns(self) -> tuple[tuple[str, str], ...]:
        """Reported (key, title) pairs, derived scores included."""
        columns = self.metrics
        if self.narrow_band is not None:
            title = dict(self.metrics)[self.boundary_key]
            columns += (
                (
                    f'{self.boundary_key}@narrow',
                    f'{title} (d = {self.narrow_band:.1%} diag.)',
                ),
            )
        if self.task == 'instance':
            columns += ((MASK_MINUS_BOX, 'mask AP - box AP'),)
        return columns


#: Mask AP minus box AP of the same run: the mask branch's quality with the
#: detector's run-to-run variation (which moves both) taken out.
MASK_MINUS_BOX = 'coco/segm_minus_bbox'


def metric_value(metrics: dict, key: str) -> float | None:
    """A stored metric or the derived ``MASK_MINUS_BOX``; None if absent."""
    if key == MASK_MINUS_BOX:
        if 'coco/segm_mAP' in metrics and 'coco/bbox_mAP' in metrics:
            return metrics['coco/segm_mAP'] - metrics['coco/bbox_mAP']
        return None
    return metrics.get(key)


SEMANTIC_METRICS = (('mIoU', 'mIoU'), ('mBIoU', 'mBIoU'))
INSTANCE_METRICS = (
    ('coco/segm_mAP', 'mask AP'),
    ('coco/boundary_mAP', 'Boundary AP'),
    ('coco/bbox_mAP', 'box AP'),
)
#: Boundary IoU's band is 2% of the image diagonal: about 11 px on the
#: 512x128 DSB2018 test crop, nearly the radius of a nucleus (7-18 px), so
#: the boundary score there is close to the region score. The DSB2018
#: experiments are scored a second time with a 0.5% band (3 px).
NARROW_BAND = 0.005
EXPERIMENTS = {
    'synthetic-semantic': Experiment(
        'semantic',
        'synthetic',
        'configs/synthetic/fpn_r18-slim_2xb4-600_synthetic-256x256.py',
        'configs/synthetic/'
        'pointrend_fpn_r18-slim_2xb4-600_synthetic-256x256.py',
        400,
        SEMANTIC_METRICS,
    ),
    'synthetic-instance': Experiment(
        'instance',
        'synthetic',
        'configs/synthetic/mask-rcnn_r18-slim_fpn_2xb2-400_synthetic.py',
        'configs/synthetic/'
        'pointrend_mask-rcnn_r18-slim_fpn_2xb2-400_synthetic.py',
        300,
        INSTANCE_METRICS,
    ),
    'dsb2018-semantic': Experiment(
        'semantic',
        'dsb2018',
        'configs/dsb2018/fpn_r18-slim_2xb4-300_dsb2018-256x256.py',
        'configs/dsb2018/pointrend_fpn_r18-slim_2xb4-300_dsb2018-256x256.py',
        300,
        SEMANTIC_METRICS,
        NARROW_BAND,
    ),
    'dsb2018-instance': Experiment(
        'instance',
        'dsb2018',
        'configs/dsb2018/mask-rcnn_r18-slim_fpn_2xb1-300_dsb2018.py',
        'configs/dsb2018/pointrend_mask-rcnn_r18-slim_fpn_2xb1-300_dsb2018.py',
        300,
        INSTANCE_METRICS,
        NARROW_BAND,
    ),
}
MODELS = ('baseline', 'pointrend')


def prepare_data(data: str, root: str) -> None:
    """Write the dataset ``data`` to ``root`` unless it is already there."""
    from mmpointrend.data import (
        dataset_is_complete,
        generate_synthetic_dataset,
    )
    from mmpointrend.data.dsb2018 import convert_dsb2018

    if data == 'synthetic':
        # any complete dataset there is used as is (tests write a tiny one)
        if not dataset_is_complete(root, num_train=1, num_val=1):
            print(f'writing the synthetic dataset to {root}', flush=True)
            generate_synthetic_dataset(root)
    elif not osp.isfile(osp.join(root, 'annotations', 'instances_val.json')):
        print(f'writing DSB2018 to {root}', flush=True)
        convert_dsb2018(root)


def run_options(exp: Experiment, data_root: str, seed: int, iters: int):
    """``--cfg-options`` of one run: data location, seed, schedule."""
    from mmpointrend.engine.runner_setup import schedule_options

    options = [
        f'{split}_dataloader.dataset.data_root={data_root}'
        for split in ('train', 'val', 'test')
    ]
    if exp.task == 'instance':
        ann = osp.join(data_root, 'annotations', 'instances_val.json')
        options += [f'val_evaluator.ann_file={ann}']
    options += [
        f'randomness.seed={seed}',
        # prediction images are not needed for the numbers
        'default_hooks.visualization.draw=False',
    ]
    return options + schedule_options(iters, poly=exp.task == 'semantic')


def last_scalars(work_dir: str, key: str) -> dict:
    """The last line of the run's MMEngine scalars that holds ``key``."""
    found = None
    for folder in sorted(os.listdir(work_dir)):
        path = osp.join(work_dir, folder, 'vis_data', 'scalars.json')
        if not osp.isfile(path):
            continue
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                if key in record:
                    found = record
    if found is None:
        raise RuntimeError(
            f'no validation result with {key!r} under {work_dir}; see the '
            'training log there'
        )
    return found


def _run_logged(cmd: list[str], log: str) -> None:
    """Run a tool with its output in ``log``; raise naming the log."""
    env = dict(os.environ, PYTHON=sys.executable, PYTHONPATH=ROOT)
    os.makedirs(osp.dirname(log), exist_ok=True)
    with open(log, 'w') as f:
        proc = subprocess.run(
            cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT
        )
    if proc.returncode != 0:
        raise RuntimeError(
            f'failed (exit {proc.returncode}): {" ".join(cmd)}; log: {log}'
        )


def narrow_band_metrics(
    exp: Experiment, model: str, data_root: str, work_dir: str
) -> dict:
    """Score a trained run again with the ``exp.narrow_band`` band.

    Runs ``tools/test.py`` on the run's last checkpoint and returns the
    boundary score as ``{'<boundary key>@narrow': value}``.
    """
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    out = osp.join(work_dir, 'narrow_band')
    # every split: the runner reads dataset metadata beyond the test split
    options = [
        f'{split}_dataloader.dataset.data_root={data_root}'
        for split in ('train', 'val', 'test')
    ] + [f'test_evaluator.dilation_ratio={exp.narrow_band}']
    if exp.task == 'instance':
        ann = osp.join(data_root, 'annotations', 'instances_val.json')
        options.append(f'test_evaluator.ann_file={ann}')
    cmd = [sys.executable, 'tools/test.py', getattr(exp, model), checkpoint]
    cmd += ['--work-dir', out, '--cfg-options', *options]
    _run_logged(cmd, osp.join(out, 'stdout.log'))
    # tools/test.py dumps them to <work-dir>/<timestamp>/<timestamp>.json
    dumps = sorted(glob.glob(osp.join(out, '*', '*.json')), key=osp.getmtime)
    if not dumps:
        raise RuntimeError(f'tools/test.py wrote no metrics under {out}')
    with open(dumps[-1]) as f:
        metrics = json.load(f)
    return {f'{exp.boundary_key}@narrow': float(metrics[exp.boundary_key])}


def train_once(
    exp: Experiment,
    model: str,
    seed: int,
    iters: int,
    data_root: str,
    work_dir: str,
    nproc: int,
) -> dict:
    """Train one config for one seed and return its validation metrics."""
    config = getattr(exp, model)
    options = run_options(exp, data_root, seed, iters)
    if nproc > 1:
        cmd = ['bash', 'tools/dist_train.sh', config, str(nproc)]
    else:
        cmd = [sys.executable, 'tools/train.py', config]
    cmd += ['--work-dir', work_dir, '--cfg-options', *options]
    start = time.perf_counter()
    try:
        _run_logged(cmd, osp.join(work_dir, 'stdout.log'))
    except RuntimeError:
        # torchrun reports a failure when a gloo worker aborts while the
        # process exits (seen once in 24 runs, after the last validation);
        # a run whose final checkpoint and validation exist is complete
        if not osp.isfile(osp.join(work_dir, f'iter_{iters}.pth')):
            raise
        print(f'    exit after a finished run ignored: {work_dir}')
    seconds = time.perf_counter() - start
    scalars = last_scalars(work_dir, exp.metrics[0][0])
    return {
        key: float(scalars[key]) for key, _ in exp.metrics if key in scalars
    } | {'seconds': round(seconds, 1)}


def _spread(values: list[float], scale: float) -> str:
    vals = [v * scale for v in values]
    if len(vals) == 1:
        return f'{vals[0]:.1f}'
    return f'{statistics.median(vals):.1f} [{min(vals):.1f}, {max(vals):.1f}]'


def _scale(key: str) -> float:
    # COCO metrics are fractions; mmseg reports percentages
    return 100.0 if key.startswith('coco/') else 1.0


def summarize(results: list[dict], names: list[str], seeds: list[int]):
    """Markdown tables (one per experiment) of medians and spreads."""
    lines = []
    for name in names:
        exp = EXPERIMENTS[name]
        runs = {
            (r['model'], r['seed']): r
            for r in results
            if r['experiment'] == name and r['seed'] in seeds
        }
        if not runs:
            continue
        iters = {r['iters'] for r in runs.values()}
        lines.append(
            f'### {name}\n\n{exp.iters if not iters else sorted(iters)[0]} '
            f'iterations; baseline `{exp.baseline}`, PointRend '
            f'`{exp.pointrend}`.\n'
        )
        head = '| model | ' + ' | '.join(t for _, t in exp.columns)
        head += ' | seeds | train+val time (s) |\n'
        head += '|---' * (len(exp.columns) + 3) + '|\n'
        body = ''
        medians = {}
        for model in MODELS:
            rows = [runs[(model, s)] for s in seeds if (model, s) in runs]
            if not rows:
                continue
            cells = []
            for key, _ in exp.columns:
                vals = [
                    v
                    for r in rows
                    if (v := metric_value(r['metrics'], key)) is not None
                ]
                cells.append(_spread(vals, _scale(key)) if vals else 'n/a')
                if vals:
                    medians[(model, key)] = statistics.median(vals)
            secs = statistics.median(r['metrics']['seconds'] for r in rows)
            used = ', '.join(str(r['seed']) for r in rows)
            body += (
                f'| {model} | ' + ' | '.join(cells) + f' | {used} | '
                f'{secs:.0f} |\n'
            )
        deltas = []
        for key, _ in exp.columns:
            if ('baseline', key) in medians and ('pointrend', key) in medians:
                d = medians[('pointrend', key)] - medians[('baseline', key)]
                deltas.append(f'{d * _scale(key):+.1f}')
            else:
                deltas.append('n/a')
        body += '| difference of medians | ' + ' | '.join(deltas) + ' | | |\n'
        per_seed = ''
        for (model, seed), r in sorted(runs.items()):
            vals = ', '.join(
                f'{t} {v * _scale(k):.2f}'
                for k, t in exp.columns
                if (v := metric_value(r['metrics'], k)) is not None
            )
            per_seed += f'{model} seed {seed}: {vals}; '
        lines.append(head + body + f'\nPer seed: {per_seed.rstrip("; ")}.\n')
    return '\n'.join(lines)


def plot(results: list[dict], names: list[str], seeds: list[int], path):
    """One panel per experiment: every seed's value and the median."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    names = [n for n in names if any(r['experiment'] == n for r in results)]
    if not names:
        return
    fig, axes = plt.subplots(
        1, len(names), figsize=(4.2 * len(names), 3.6), squeeze=False
    )
    colors = {'baseline': '#7f7f7f', 'pointrend': '#d62728'}
    for ax, name in zip(axes[0], names, strict=True):
        # the scores themselves; the derived difference has its own scale
        columns = [
            c for c in EXPERIMENTS[name].columns if c[0] != MASK_MINUS_BOX
        ]
        for m, model in enumerate(MODELS):
            for i, (key, _) in enumerate(columns):
                vals = [
                    r['metrics'][key] * _scale(key)
                    for r in results
                    if r['experiment'] == name
                    and r['model'] == model
                    and r['seed'] in seeds
                    and key in r['metrics']
                ]
                if not vals:
                    continue
                x = i + (m - 0.5) * 0.3
                ax.scatter(
                    [x] * len(vals), vals, color=colors[model], s=18, zorder=3
                )
                ax.hlines(
                    statistics.median(vals),
                    x - 0.12,
                    x + 0.12,
                    color=colors[model],
                    lw=2.5,
                    label=model if i == 0 else None,
                )
        ax.set_xticks(range(len(columns)))
        ax.set_xticklabels(
            [t.replace(' (', '\n(') for _, t in columns], fontsize=8
        )
        ax.set_title(name)
        ax.grid(axis='y', alpha=0.3)
    axes[0][0].legend(loc='best', fontsize=8)
    fig.suptitle('Baseline vs PointRend: each dot one seed, bar = median')
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(results, names, seeds, out, png, command, nproc) -> None:
    """Write the generated part of the report between its markers."""
    rel_png = osp.relpath(png, osp.dirname(osp.abspath(out)))
    body = (
        f'Machine: {machine()}; {nproc} training process(es) x the batch '
        f'of each config. Seeds: {", ".join(map(str, seeds))}. '
        f'Command: `{command}`. Each cell: median [min, max] over the '
        'seeds; mIoU/mBIoU in %, AP x 100. Metrics on the validation split '
        'after the last iteration.\n\n'
        + summarize(results, names, seeds)
        + f'\n![accuracy study]({rel_png})\n'
    )
    replace_block(out, 'accuracy-study', body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--experiments',
        nargs='+',
        choices=sorted(EXPERIMENTS),
        default=list(EXPERIMENTS),
    )
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument(
        '--iters', type=int, help='one schedule length for every experiment'
    )
    parser.add_argument('--nproc', type=int, default=2)
    parser.add_argument('--synthetic-root', default='data/synthetic')
    parser.add_argument('--dsb-root', default='data/dsb2018')
    parser.add_argument('--work-dir', default='work_dirs/accuracy_study')
    parser.add_argument('--out', default='docs/accuracy.md')
    parser.add_argument('--plot', default='docs/images/accuracy_study.png')
    parser.add_argument(
        '--fresh', action='store_true', help='re-run finished runs'
    )
    args = parser.parse_args()
    if args.nproc < 1 or (args.iters is not None and args.iters < 1):
        parser.error('--nproc and --iters must be >= 1')
    work_root = osp.abspath(osp.join(ROOT, args.work_dir))
    out = osp.abspath(osp.join(ROOT, args.out))
    png = osp.abspath(osp.join(ROOT, args.plot))
    roots = {
        'synthetic': osp.abspath(osp.join(ROOT, args.synthetic_root)),
        'dsb2018': osp.abspath(osp.join(ROOT, args.dsb_root)),
    }
    os.makedirs(work_root, exist_ok=True)
    store = osp.join(work_root, 'results.json')
    results = []
    if osp.isfile(store) and not args.fresh:
        with open(store) as f:
            results = json.load(f)
    command = ' '.join(
        ['python tools/analysis/accuracy_study.py', *sys.argv[1:]]
    )
    for data in sorted({EXPERIMENTS[n].data for n in args.experiments}):
        prepare_data(data, roots[data])

    # seed-major order: an interrupted study still has complete pairs
    plan = [
        (seed, name, model)
        for seed in args.seeds
        for name in args.experiments
        for model in MODELS
    ]
    for i, (seed, name, model) in enumerate(plan, 1):
        exp = EXPERIMENTS[name]
        iters = args.iters or exp.iters
        key = dict(experiment=name, model=model, seed=seed, iters=iters)
        work_dir = osp.join(work_root, name, f'{model}_seed{seed}_{iters}')
        done = [r for r in results if all(r[k] == v for k, v in key.items())]
        narrow = f'{exp.boundary_key}@narrow'
        if done and (exp.narrow_band is None or narrow in done[0]['metrics']):
            print(f'[{i}/{len(plan)}] {name} {model} seed {seed}: done')
            continue
        if done:  # trained before the narrow band was added: score it
            print(f'[{i}/{len(plan)}] {name} {model} seed {seed}: narrow band')
            metrics = done[0]['metrics']
        else:
            print(
                f'[{i}/{len(plan)}] {name} {model} seed {seed}, {iters} iters',
                flush=True,
            )
            metrics = train_once(
                exp, model, seed, iters, roots[exp.data], work_dir, args.nproc
            )
        if exp.narrow_band is not None:
            metrics |= narrow_band_metrics(
                exp, model, roots[exp.data], work_dir
            )
        print(f'    {metrics}', flush=True)
        results = [
            r for r in results if not all(r[k] == v for k, v in key.items())
        ] + [key | {'metrics': metrics}]
        tmp = store + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(results, f, indent=1)
        os.replace(tmp, store)
        current = [
            r
            for r in results
            if r['iters'] == (args.iters or EXPERIMENTS[r['experiment']].iters)
        ]
        write_report(
            current,
            args.experiments,
            args.seeds,
            out,
            png,
            command,
            args.nproc,
        )
        plot(current, args.experiments, args.seeds, png)
    current = [
        r
        for r in results
        if r['iters'] == (args.iters or EXPERIMENTS[r['experiment']].iters)
    ]
    write_report(
        current, args.experiments, args.seeds, out, png, command, args.nproc
    )
    plot(current, args.experiments, args.seeds, png)
    print(f'wrote {out} and {png}')


if __name__ == '__main__':
    main()
