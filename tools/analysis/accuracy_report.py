"""Report of the accuracy study: tables, per-seed values and a plot.

Reads what ``tools/analysis/accuracy_study.py`` stored (``results.json``)
and writes the Markdown block of ``docs/accuracy.md`` and the PNG; the
study calls it after every run, and it can be run alone to re-render the
report without training.

Example:
    python tools/analysis/accuracy_report.py \
        work_dirs/accuracy_study/results.json
"""

from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import statistics
import sys
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


def current_results(results: list[dict], iters: int | None) -> list[dict]:
    """The stored runs of the schedule being reported.

    Args:
        results (list[dict]): Every stored run.
        iters (int, optional): The study's ``--iters`` (None: each
            experiment's own length).

    Returns:
        list[dict]: Runs whose length is the one reported.
    """
    return [
        r
        for r in results
        if r['iters'] == (iters or EXPERIMENTS[r['experiment']].iters)
    ]


def report(
    results: list[dict],
    names: list[str],
    seeds: list[int],
    iters: int | None,
    out: str,
    png: str,
    command: str,
    nproc: int,
) -> None:
    """Write the Markdown block and the plot for the current schedule.

    Args:
        results (list[dict]): Every stored run.
        names (list[str]): Experiments to report.
        seeds (list[int]): Seeds to report.
        iters (int, optional): See :func:`current_results`.
        out (str): Markdown file.
        png (str): Plot file.
        command (str): The study's command line, quoted in the report.
        nproc (int): Training processes per run.
    """
    current = current_results(results, iters)
    write_report(current, names, seeds, out, png, command, nproc)
    plot(current, names, seeds, png)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('results', help='results.json of the study')
    parser.add_argument(
        '--experiments',
        nargs='+',
        choices=sorted(EXPERIMENTS),
        default=list(EXPERIMENTS),
    )
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument('--iters', type=int)
    parser.add_argument('--nproc', type=int, default=2)
    parser.add_argument('--out', default='docs/accuracy.md')
    parser.add_argument('--plot', default='docs/images/accuracy_study.png')
    args = parser.parse_args()
    with open(args.results) as f:
        results = json.load(f)
    command = 'python tools/analysis/accuracy_study.py' + ''.join(
        f' --{k} {" ".join(map(str, v)) if isinstance(v, list) else v}'
        for k, v in (
            ('experiments', args.experiments),
            ('seeds', args.seeds),
            ('nproc', args.nproc),
        )
    )
    report(
        results,
        args.experiments,
        args.seeds,
        args.iters,
        osp.abspath(args.out),
        osp.abspath(args.plot),
        command,
        args.nproc,
    )
    print(f'wrote {args.out} and {args.plot}')


if __name__ == '__main__':
    main()
