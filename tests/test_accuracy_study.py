"""Layer 4: the accuracy study script, 2 iterations per run, end to end.

The full study (``tools/analysis/accuracy_study.py`` with its defaults)
trains for hours on 2 cores; this runs the same code path on a tiny
synthetic dataset and the real DSB2018 crops with 2 iterations and one seed,
through the real tools and MMEngine runners.
"""

import json
import re

import pytest
from conftest import run_tool

from mmpointrend.dataset_makers import generate_synthetic_dataset
from mmpointrend.dataset_makers.dsb2018 import convert_dsb2018

pytestmark = pytest.mark.slow


def test_two_iteration_study(tmp_path):
    synthetic = tmp_path / 'synthetic'
    generate_synthetic_dataset(
        str(synthetic), num_train=2, num_val=1, size=256, seed=5
    )
    dsb = tmp_path / 'dsb2018'
    convert_dsb2018(str(dsb))
    work, out = tmp_path / 'work', tmp_path / 'docs' / 'accuracy.md'
    out.parent.mkdir()
    out.write_text('# Accuracy\n\nHand-written text kept.\n')
    png = tmp_path / 'docs' / 'images' / 'study.png'
    # one experiment of each kind: a pair (semantic) and the three-model
    # Implicit PointRend / PointSup study with the narrow band of DSB2018
    # (the other experiments run the same code with other configs)
    experiments = ['synthetic-semantic', 'dsb2018-implicit']
    args = [
        '--iters', '2', '--seeds', '0', '--nproc', '1',
        '--experiments', *experiments,
        '--synthetic-root', str(synthetic), '--dsb-root', str(dsb),
        '--work-dir', str(work), '--out', str(out), '--plot', str(png),
    ]  # fmt: skip
    proc = run_tool('tools/analysis/accuracy_study.py', *args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    results = json.loads((work / 'results.json').read_text())
    assert len(results) == 5  # a pair + 3 models
    by_run = {(r['experiment'], r['model']): r['metrics'] for r in results}
    for model in ('baseline', 'pointrend'):
        sem = by_run[('synthetic-semantic', model)]
        # the study records exactly what the run's evaluator logged
        log = (
            work / 'synthetic-semantic' / f'{model}_seed0_2' / 'stdout.log'
        ).read_text()
        val = [line for line in log.splitlines() if 'Iter(val)' in line][-1]
        for key in ('mIoU', 'mBIoU'):
            logged = float(re.search(rf'\b{key}: ([-\d.]+)', val).group(1))
            assert sem[key] == pytest.approx(logged, abs=1e-4), (key, val)
        assert 'mBIoU@narrow' not in sem
    # DSB2018 is scored a second time with a narrow band (small nuclei)
    for exp, model in [
        ('dsb2018-implicit', 'pointrend'),
        ('dsb2018-implicit', 'implicit'),
        ('dsb2018-implicit', 'pointsup'),
    ]:
        ins = by_run[(exp, model)]
        assert {
            'coco/segm_mAP',
            'coco/boundary_mAP',
            'coco/boundary_mAP@narrow',
        } <= set(ins)
    assert all(r['iters'] == 2 for r in results)
    # PointSup trained from the point file the study made from the masks
    points = json.loads(
        (dsb / 'annotations' / 'instances_train_points_n10.json').read_text()
    )
    assert all(len(a['point_labels']) == 10 for a in points['annotations'])
    pointsup_log = (
        work / 'dsb2018-implicit' / 'pointsup_seed0_2' / 'stdout.log'
    ).read_text()
    assert 'instances_train_points_n10.json' in pointsup_log

    report = out.read_text()
    assert report.startswith('# Accuracy\n\nHand-written text kept.')
    for name in experiments:
        assert report.count(f'### {name}') == 1
    # the pairs in one block with one plot, the Implicit study in its own
    assert report.count('<!-- BENCHMARK accuracy-study -->') == 1
    assert report.count('<!-- BENCHMARK accuracy-study-implicit -->') == 1
    implicit = report.split('<!-- BENCHMARK accuracy-study-implicit -->')[1]
    assert '### dsb2018-implicit' in implicit
    assert '### synthetic-semantic' not in implicit
    assert report.count('| pointrend - baseline, difference of medians |') == 1
    assert '| implicit - pointrend, difference of medians |' in implicit
    assert '| pointsup as % of implicit, per seed |' in implicit
    assert 'Machine:' in report and 'Seeds: 0' in report
    # a narrow-band column in the DSB2018 table only
    assert report.count('| Boundary AP (d = 0.5% diag.) |') == 1
    assert report.count('diag.) |') == 1
    for path in (png, png.with_name('study_implicit.png')):
        assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'

    # a second start reuses every finished run instead of training again
    again = run_tool('tools/analysis/accuracy_study.py', *args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count(': done') == 5
    assert ', 2 iters' not in again.stdout

    # the report re-renders from results.json alone, without training
    out2, png2 = tmp_path / 'report.md', tmp_path / 'report.png'
    rendered = run_tool(
        'tools/analysis/accuracy_report.py', work / 'results.json',
        '--iters', '2', '--seeds', '0', '--nproc', '1',
        '--experiments', *experiments, '--out', out2, '--plot', png2,
    )  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr[-3000:]
    assert out2.read_text().count('difference of medians |') == 2
    assert png2.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def _run(model: str, seed: int, **metrics: float) -> dict:
    return {'model': model, 'seed': seed, 'metrics': metrics}


def test_comparison_rows_by_hand():
    """Differences of medians and paired per-seed percentages."""
    from mmpointrend.analysis.accuracy_report import MASK_MINUS_BOX, comparison

    key = 'coco/segm_mAP'
    runs = {
        (m, s): _run(m, s, **{key: v, 'coco/bbox_mAP': 0.5})
        for m, s, v in [
            ('implicit', 0, 0.40),
            ('implicit', 1, 0.50),
            ('implicit', 2, 0.20),
            ('pointsup', 0, 0.38),
            ('pointsup', 1, 0.45),
            # seed 2 missing for pointsup: no pair, left out of the percent
        ]
    }
    seeds = [0, 1, 2]
    # medians 0.415 and 0.40 -> +1.5 AP points (COCO fractions x 100)
    assert (
        comparison('difference', runs, seeds, key, 'pointsup', 'implicit')
        == '+1.5'
    )
    # per seed 95% and 90%: median 92.5 [90.0, 95.0]
    assert (
        comparison('percent', runs, seeds, key, 'pointsup', 'implicit')
        == '92.5 [90.0, 95.0]%'
    )
    # a percentage of a difference means nothing; absent models give n/a
    assert (
        comparison(
            'percent', runs, seeds, MASK_MINUS_BOX, 'pointsup', 'implicit'
        )
        == 'n/a'
    )
    assert (
        comparison('difference', runs, seeds, key, 'pointrend', 'implicit')
        == 'n/a'
    )
    with pytest.raises(ValueError, match='unknown comparison'):
        comparison('ratio', runs, seeds, key, 'pointsup', 'implicit')
