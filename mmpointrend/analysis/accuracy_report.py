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
from dataclasses import dataclass

from mmpointrend.checkpoint.io import save_figure

from .measure import machine, replace_block

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@dataclass(frozen=True)
class Experiment:
    """Configs trained on the same data and schedule, and what to report."""

    task: str  # 'semantic' or 'instance'
    data: str  # 'synthetic' or 'dsb2018'
    models: tuple[tuple[str, str], ...]  # (model name, config), table order
    iters: int  # schedule length used by the study
    metrics: tuple[tuple[str, str], ...]  # (scalar key, column title)
    # a second, narrower boundary band evaluated after training (see
    # NARROW_BAND): None to skip
    narrow_band: float | None = None
    # rows below the table: ('difference', a, b) is the median of model a
    # minus the median of b; ('percent', a, b) is a / b x 100 per seed
    comparisons: tuple[tuple[str, str, str], ...] = (
        ('difference', 'pointrend', 'baseline'),
    )
    # the report (Markdown block and plot) this experiment belongs to
    group: str = 'pointrend'
    # points per object of the point-annotation file a model trains from
    # (PointSup), made from the masks by the study; None: not needed
    point_annotations: int | None = None

    @property
    def model_names(self) -> tuple[str, ...]:
        """The models, in table order."""
        return tuple(name for name, _ in self.models)

    def config(self, model: str) -> str:
        """The config file of ``model``."""
        return dict(self.models)[model]

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


def _pair(baseline: str, pointrend: str) -> tuple[tuple[str, str], ...]:
    return (('baseline', baseline), ('pointrend', pointrend))


_SYNTHETIC_POINTREND = (
    'configs/synthetic/pointrend_mask-rcnn_r18-slim_fpn_2xb2-400_synthetic.py'
)
_DSB_POINTREND = (
    'configs/dsb2018/pointrend_mask-rcnn_r18-slim_fpn_2xb1-300_dsb2018.py'
)


def _implicit_trio(
    data: str, pointrend: str, recipe: str
) -> tuple[tuple[str, str], ...]:
    stem = f'configs/{data}/{{}}_mask-rcnn_r18-slim_fpn_{recipe}_{data}.py'
    return (
        ('pointrend', pointrend),
        ('implicit', stem.format('implicit-pointrend')),
        ('pointsup', stem.format('pointsup-implicit-pointrend')),
    )


_IMPLICIT_STUDY = dict(
    comparisons=(
        ('difference', 'implicit', 'pointrend'),
        ('percent', 'pointsup', 'implicit'),
        ('percent', 'pointsup', 'pointrend'),
    ),
    group='implicit',
    point_annotations=10,
)
EXPERIMENTS = {
    'synthetic-semantic': Experiment(
        'semantic',
        'synthetic',
        _pair(
            'configs/synthetic/fpn_r18-slim_2xb4-600_synthetic-256x256.py',
            'configs/synthetic/'
            'pointrend_fpn_r18-slim_2xb4-600_synthetic-256x256.py',
        ),
        400,
        SEMANTIC_METRICS,
    ),
    'synthetic-instance': Experiment(
        'instance',
        'synthetic',
        _pair(
            'configs/synthetic/mask-rcnn_r18-slim_fpn_2xb2-400_synthetic.py',
            _SYNTHETIC_POINTREND,
        ),
        300,
        INSTANCE_METRICS,
    ),
    'dsb2018-semantic': Experiment(
        'semantic',
        'dsb2018',
        _pair(
            'configs/dsb2018/fpn_r18-slim_2xb4-300_dsb2018-256x256.py',
            'configs/dsb2018/'
            'pointrend_fpn_r18-slim_2xb4-300_dsb2018-256x256.py',
        ),
        300,
        SEMANTIC_METRICS,
        NARROW_BAND,
    ),
    'dsb2018-instance': Experiment(
        'instance',
        'dsb2018',
        _pair(
            'configs/dsb2018/mask-rcnn_r18-slim_fpn_2xb1-300_dsb2018.py',
            _DSB_POINTREND,
        ),
        300,
        INSTANCE_METRICS,
        NARROW_BAND,
    ),
    # Implicit PointRend and PointSup (Cheng et al., CVPR 2022) beside the
    # fully supervised PointRend mask branch; PointSup is Implicit PointRend
    # trained from boxes + 10 points per object, so its reference is the
    # fully supervised Implicit PointRend
    'synthetic-implicit': Experiment(
        'instance',
        'synthetic',
        _implicit_trio('synthetic', _SYNTHETIC_POINTREND, '2xb2-400'),
        300,
        INSTANCE_METRICS,
        **_IMPLICIT_STUDY,
    ),
    # PointRend on other families, added by tools/misc/pointrendify.py to
    # the base configs (docs/pointrend_any_model.md)
    'synthetic-segformer': Experiment(
        'semantic',
        'synthetic',
        _pair(
            'configs/synthetic/segformer_mit-slim_2xb4-600_synthetic-256x256.py',
            'configs/synthetic/'
            'pointrend_segformer_mit-slim_2xb4-600_synthetic-256x256.py',
        ),
        400,
        SEMANTIC_METRICS,
        group='any-model',
    ),
    'dsb2018-swin': Experiment(
        'instance',
        'dsb2018',
        _pair(
            'configs/dsb2018/mask-rcnn_swin-slim_fpn_2xb1-300_dsb2018.py',
            'configs/dsb2018/'
            'pointrend_mask-rcnn_swin-slim_fpn_2xb1-300_dsb2018.py',
        ),
        300,
        INSTANCE_METRICS,
        NARROW_BAND,
        group='any-model',
    ),
    'dsb2018-implicit': Experiment(
        'instance',
        'dsb2018',
        _implicit_trio('dsb2018', _DSB_POINTREND, '2xb1-300'),
        300,
        INSTANCE_METRICS,
        NARROW_BAND,
        **_IMPLICIT_STUDY,
    ),
}
#: Reports: group name -> (Markdown block, plot file suffix, plot title)
GROUPS = {
    'pointrend': (
        'accuracy-study',
        '',
        'Baseline vs PointRend: each dot one seed, bar = median',
    ),
    'any-model': (
        'accuracy-study-any-model',
        '_any_model',
        'Base model vs its pointrendify version (SegFormer, Swin Mask R-CNN):'
        ' each dot one seed, bar = median',
    ),
    'implicit': (
        'accuracy-study-implicit',
        '_implicit',
        'PointRend vs Implicit PointRend vs PointSup (10 points per object):'
        ' each dot one seed, bar = median',
    ),
}


def _spread(values: list[float], scale: float) -> str:
    vals = [v * scale for v in values]
    if len(vals) == 1:
        return f'{vals[0]:.1f}'
    return f'{statistics.median(vals):.1f} [{min(vals):.1f}, {max(vals):.1f}]'


def _scale(key: str) -> float:
    # COCO metrics are fractions; mmseg reports percentages
    return 100.0 if key.startswith('coco/') else 1.0


def comparison(
    kind: str, runs: dict, seeds: list[int], key: str, a: str, b: str
) -> str:
    """One cell of a comparison row below an experiment's table.

    Args:
        kind (str): ``'difference'``: median of ``a`` minus median of ``b``
            (in the column's unit); ``'percent'``: ``a / b x 100`` for each
            seed both models ran, as median [min, max].
        runs (dict): ``(model, seed) -> stored run`` of the experiment.
        seeds (list[int]): Reported seeds.
        key (str): The column's metric key.
        a (str): Model compared.
        b (str): Model compared against.

    Returns:
        str: The cell; ``'n/a'`` where a model has no value, and for a
        percentage of a derived difference (meaningless).
    """

    def values(model: str) -> dict[int, float]:
        found = {}
        for seed in seeds:
            run = runs.get((model, seed))
            value = None if run is None else metric_value(run['metrics'], key)
            if value is not None:
                found[seed] = value
        return found

    va, vb = values(a), values(b)
    if kind == 'difference':
        if not va or not vb:
            return 'n/a'
        d = statistics.median(va.values()) - statistics.median(vb.values())
        return f'{d * _scale(key):+.1f}'
    if kind != 'percent':
        raise ValueError(f'unknown comparison {kind!r}')
    paired = [s for s in va if s in vb and vb[s] > 0]
    if key == MASK_MINUS_BOX or not paired:
        return 'n/a'
    return _spread([100.0 * va[s] / vb[s] for s in paired], 1.0) + '%'


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
        configs = ', '.join(f'{m} `{c}`' for m, c in exp.models)
        lines.append(
            f'### {name}\n\n{exp.iters if not iters else sorted(iters)[0]} '
            f'iterations; {configs}.\n'
        )
        head = '| model | ' + ' | '.join(t for _, t in exp.columns)
        head += ' | seeds | train+val time (s) | peak RSS (MiB) |\n'
        head += '|---' * (len(exp.columns) + 4) + '|\n'
        body = ''
        for model in exp.model_names:
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
            secs = statistics.median(r['metrics']['seconds'] for r in rows)
            rss = [
                r['metrics']['peak_rss_mib']
                for r in rows
                if 'peak_rss_mib' in r['metrics']
            ]
            used = ', '.join(str(r['seed']) for r in rows)
            body += (
                f'| {model} | ' + ' | '.join(cells) + f' | {used} | '
                f'{secs:.0f} | '
                + (f'{statistics.median(rss):.0f}' if rss else 'n/a')
                + ' |\n'
            )
        for kind, a, b in exp.comparisons:
            cells = [
                comparison(kind, runs, seeds, key, a, b)
                for key, _ in exp.columns
            ]
            title = (
                f'{a} - {b}, difference of medians'
                if kind == 'difference'
                else f'{a} as % of {b}, per seed'
            )
            body += f'| {title} | ' + ' | '.join(cells) + ' | | | |\n'
        per_seed = ''
        order = {m: i for i, m in enumerate(exp.model_names)}
        for (model, seed), r in sorted(
            runs.items(), key=lambda kv: (order[kv[0][0]], kv[0][1])
        ):
            vals = ', '.join(
                f'{t} {v * _scale(k):.2f}'
                for k, t in exp.columns
                if (v := metric_value(r['metrics'], k)) is not None
            )
            per_seed += f'{model} seed {seed}: {vals}; '
        lines.append(head + body + f'\nPer seed: {per_seed.rstrip("; ")}.\n')
    return '\n'.join(lines)


def plot(
    results: list[dict],
    names: list[str],
    seeds: list[int],
    path: str,
    title: str,
) -> None:
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
    colors = {
        'baseline': '#7f7f7f',
        'pointrend': '#d62728',
        'implicit': '#1f77b4',
        'pointsup': '#2ca02c',
    }
    for ax, name in zip(axes[0], names, strict=True):
        models = EXPERIMENTS[name].model_names
        width = 0.6 / len(models)
        # the scores themselves; the derived difference has its own scale
        columns = [
            c for c in EXPERIMENTS[name].columns if c[0] != MASK_MINUS_BOX
        ]
        for m, model in enumerate(models):
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
                x = i + (m - (len(models) - 1) / 2) * width
                ax.scatter(
                    [x] * len(vals), vals, color=colors[model], s=18, zorder=3
                )
                ax.hlines(
                    statistics.median(vals),
                    x - 0.4 * width,
                    x + 0.4 * width,
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
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def write_report(
    results, names, seeds, out, png, command, nproc, block='accuracy-study'
) -> None:
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
    replace_block(out, block, body)


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
) -> list[str]:
    """Write the Markdown blocks and plots for the current schedule.

    Each report group (``GROUPS``) with an experiment in ``names`` gets its
    own block in ``out`` and its own plot: ``png`` for the PointRend vs
    baseline group, ``png`` with the group's suffix for the others.

    Args:
        results (list[dict]): Every stored run.
        names (list[str]): Experiments to report.
        seeds (list[int]): Seeds to report.
        iters (int, optional): See :func:`current_results`.
        out (str): Markdown file.
        png (str): Plot file of the first group.
        command (str): The study's command line, quoted in the report.
        nproc (int): Training processes per run.

    Returns:
        list[str]: The plots written.
    """
    current = current_results(results, iters)
    plots = []
    for group, (block, suffix, title) in GROUPS.items():
        members = [n for n in names if EXPERIMENTS[n].group == group]
        if not members:
            continue
        stem, ext = osp.splitext(png)
        path = stem + suffix + ext
        write_report(current, members, seeds, out, path, command, nproc, block)
        plot(current, members, seeds, path, title)
        plots.append(path)
    return plots


def main() -> None:
    """``python tools/analysis/accuracy_report.py RESULTS_JSON [...]``."""
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
    plots = report(
        results,
        args.experiments,
        args.seeds,
        args.iters,
        osp.abspath(args.out),
        osp.abspath(args.plot),
        command,
        args.nproc,
    )
    print(f'wrote {args.out} and {", ".join(plots)}')


if __name__ == '__main__':
    main()
