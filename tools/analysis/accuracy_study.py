"""PointRend vs its baseline, and vs Implicit PointRend and PointSup.

Six experiments, each a set of configs that differ only in the mask /
segmentation head or its supervision (same backbone, data, schedule and
seed):

* ``synthetic-semantic``: SemanticFPN coarse head upsampled bilinearly vs
  the same + PointRend point head, on the synthetic dataset (mIoU, mBIoU);
* ``synthetic-instance``: Mask R-CNN with the 4x conv 28x28 mask head vs
  the PointRend mask branch (mask AP, Boundary AP, box AP);
* ``dsb2018-semantic`` / ``dsb2018-instance``: the same pairs on the DSB2018
  nuclei image bundled with stardist (one image, spatial split);
* ``synthetic-implicit`` / ``dsb2018-implicit``: the PointRend mask branch
  vs Implicit PointRend vs PointSup (Implicit PointRend trained from boxes
  + 10 labelled points per object, sampled from the masks by the study with
  ``coco_to_points.py``'s seed), reported in a block and plot of their own.

Every run trains with ``tools/dist_train.sh`` (or ``tools/train.py`` for
``--nproc 1``) and validates once at the end; the metrics are read from the
run's MMEngine scalars. Finished runs are kept in ``<work-dir>/results.json``
and skipped when the study is started again (``--fresh`` re-runs them), so
an interrupted study resumes where it stopped. After every run it renders
the report (``accuracy_report.py``: medians, min-max spread and per-seed
values in Markdown, and a PNG plot).

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
import subprocess
import sys
import time

from mmpointrend.analysis.accuracy_report import (
    EXPERIMENTS,
    Experiment,
    report,
)
from mmpointrend.checkpoint.io import write_atomically
from mmpointrend.dataset_makers import prepare_dataset
from mmpointrend.engine.runner_setup import schedule_options

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def prepare_point_annotations(root: str, num_points: int) -> None:
    """Write the PointSup point file of ``root``'s training split.

    ``annotations/instances_train_points_n<num_points>.json``: every object
    of ``instances_train.json`` with ``num_points`` labelled points sampled
    in its box (``tools/dataset_converters/coco_to_points.py``'s defaults,
    seed included). Kept when it is there already.
    """
    from mmpointrend.dataset_makers.point_annotations import (
        sample_point_annotations,
    )

    ann = osp.join(root, 'annotations')
    dst = osp.join(ann, f'instances_train_points_n{num_points}.json')
    if osp.isfile(dst):
        return
    print(f'writing {num_points} points per object to {dst}', flush=True)
    with open(osp.join(ann, 'instances_train.json')) as f:
        coco = json.load(f)
    points = sample_point_annotations(coco, num_points=num_points)
    text = json.dumps(points).encode()
    write_atomically(dst, lambda f: f.write(text))


def run_options(exp: Experiment, data_root: str, seed: int, iters: int):
    """``--cfg-options`` of one run: data location, seed, schedule."""
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


def _run_logged(cmd: list[str], log: str) -> float:
    """Run a tool with its output in ``log``; raise naming the log.

    Returns:
        float: Peak resident memory in MiB of the largest process of the
        run (the tool, or with ``dist_train.sh`` the largest of torchrun
        and its workers, whose usage ``wait4`` reports with its own).
    """
    env = dict(os.environ, PYTHON=sys.executable, PYTHONPATH=ROOT)
    os.makedirs(osp.dirname(log), exist_ok=True)
    with open(log, 'w') as f:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(
            f'failed (exit {proc.returncode}): {" ".join(cmd)}; log: {log}'
        )
    return usage.ru_maxrss / 1024  # Linux reports KiB


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
    cmd = [sys.executable, 'tools/test.py', exp.config(model), checkpoint]
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
    config = exp.config(model)
    options = run_options(exp, data_root, seed, iters)
    if nproc > 1:
        cmd = ['bash', 'tools/dist_train.sh', config, str(nproc)]
    else:
        cmd = [sys.executable, 'tools/train.py', config]
    cmd += ['--work-dir', work_dir, '--cfg-options', *options]
    start = time.perf_counter()
    peak = None
    try:
        peak = _run_logged(cmd, osp.join(work_dir, 'stdout.log'))
    except RuntimeError:
        # torchrun reports a failure when a gloo worker aborts while the
        # process exits (seen once in 24 runs, after the last validation);
        # a run whose final checkpoint and validation exist is complete
        if not osp.isfile(osp.join(work_dir, f'iter_{iters}.pth')):
            raise
        print(f'    exit after a finished run ignored: {work_dir}')
    seconds = time.perf_counter() - start
    scalars = last_scalars(work_dir, exp.metrics[0][0])
    metrics = {
        key: float(scalars[key]) for key, _ in exp.metrics if key in scalars
    } | {'seconds': round(seconds, 1)}
    if peak is not None:
        metrics['peak_rss_mib'] = round(peak)
    return metrics


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

    def render(results: list[dict]) -> list[str]:
        return report(
            results, args.experiments, args.seeds, args.iters, out, png,
            command, args.nproc,
        )  # fmt: skip

    for data in sorted({EXPERIMENTS[n].data for n in args.experiments}):
        prepare_dataset(data, roots[data])
    for name in args.experiments:
        if EXPERIMENTS[name].point_annotations is not None:
            prepare_point_annotations(
                roots[EXPERIMENTS[name].data],
                EXPERIMENTS[name].point_annotations,
            )

    # seed-major order: an interrupted study still has complete pairs
    plan = [
        (seed, name, model)
        for seed in args.seeds
        for name in args.experiments
        for model in EXPERIMENTS[name].model_names
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
        text = json.dumps(results, indent=1).encode()
        write_atomically(store, lambda f, text=text: f.write(text))
        render(results)
    plots = render(results)
    print(f'wrote {out} and {", ".join(plots)}')


if __name__ == '__main__':
    main()
