"""Draw docs/images/architecture.png: PointRend's data flow in mmpointrend.

Example:
    python tools/misc/draw_architecture.py
"""

from __future__ import annotations

import argparse
import os
import os.path as osp

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# (x, y, text, colour): host-library parts grey, task adapters blue, the
# shared core green.
HOST, TASK, CORE = '#e6e6e6', '#cfe2ff', '#d4edda'
BOXES = {
    # semantic row
    's_in': (0.06, 0.83, 'image', HOST),
    's_bb': (0.19, 0.83, 'backbone + FPN\n(mmseg)', HOST),
    's_coarse': (0.35, 0.83, 'coarse head\nFPNHead / ASPPHead\n(mmseg)', HOST),
    's_seg': (
        0.54,
        0.83,
        'PointRendEncoderDecoder\n(segmentors/)',
        TASK,
    ),
    's_head': (0.75, 0.83, 'PointRendSemSegHead\n(decode_heads/)', TASK),
    's_out': (0.93, 0.83, 'logits at\ninput size', HOST),
    # instance row
    'i_in': (0.06, 0.17, 'image', HOST),
    'i_det': (
        0.19,
        0.17,
        'Mask R-CNN\nbackbone, RPN,\nbox head (mmdet)',
        HOST,
    ),
    'i_ext': (0.35, 0.17, 'GridRoIExtractor\n14x14 grid on P2', TASK),
    'i_coarse': (0.54, 0.17, 'PointRendCoarseMaskHead\n7x7 logits', TASK),
    'i_head': (
        0.75,
        0.17,
        'PointRendMaskRoIHead +\nPointRendMaskPointHead',
        TASK,
    ),
    'i_out': (0.93, 0.17, 'masks pasted\n(predict_by_feat)', HOST),
    # shared core (models/utils/)
    'c_sel': (
        0.22,
        0.5,
        'point_selection.py\nUncertaintyPointSampler\n(training: kN random,\n'
        'beta N most uncertain)',
        CORE,
    ),
    'c_feat': (
        0.44,
        0.5,
        'point_features.py\npoint_sample, cell_centers,\nsample_roi_points, '
        'point_labels,\nclass_channel',
        CORE,
    ),
    'c_mlp': (
        0.64,
        0.5,
        'point_mlp.py\nPointMLP\n(fine feats + coarse logits)',
        CORE,
    ),
    'c_sub': (
        0.84,
        0.5,
        'subdivision.py\nrender_by_subdivision\n(upsample x2, top-N\n'
        'uncertain, re-predict)',
        CORE,
    ),
}
ARROWS = [
    ('s_in', 's_bb'), ('s_bb', 's_coarse'), ('s_coarse', 's_seg'),
    ('s_seg', 's_head'), ('s_head', 's_out'),
    ('i_in', 'i_det'), ('i_det', 'i_ext'), ('i_ext', 'i_coarse'),
    ('i_coarse', 'i_head'), ('i_head', 'i_out'),
]  # fmt: skip
USES = ['c_sel', 'c_feat', 'c_mlp', 'c_sub']


def draw(path: str) -> None:
    """Write the picture to ``path``."""
    import matplotlib

    from mmpointrend.checkpoint.io import save_figure

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(15, 7.5))
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    artists = {}
    for name, (x, y, text, colour) in BOXES.items():
        artists[name] = ax.text(
            x, y, text, ha='center', va='center', fontsize=9,
            bbox=dict(boxstyle='round,pad=0.5', fc=colour, ec='#555555'),
        )  # fmt: skip
    fig.canvas.draw()  # box extents are known only after a draw

    def arrow(a, b, start, end, **style):
        # coordinates are fractions of each box's extent
        ax.annotate(
            '', xy=end, xycoords=artists[b], xytext=start,
            textcoords=artists[a], arrowprops=dict(arrowstyle='->', **style),
        )  # fmt: skip

    for a, b in ARROWS:
        arrow(a, b, (1.0, 0.5), (0.0, 0.5), color='#333333')
    for head, (start, end) in (
        ('s_head', ((0.5, 0.0), (0.5, 1.0))),
        ('i_head', ((0.5, 1.0), (0.5, 0.0))),
    ):
        for core in USES:
            arrow(head, core, start, end, color='#2e7d32', alpha=0.5, ls='--')
    ax.text(
        0.5,
        0.97,
        'semantic: coarse logits (B, K, H/4, W/4) -> points '
        '-> rendered logits',
        ha='center',
        fontsize=11,
        weight='bold',
    )
    ax.text(
        0.5,
        0.64,
        'the PointRend core, shared by both tasks: mmpointrend/models/utils/',
        ha='center',
        fontsize=11,
        color='#2e7d32',
        weight='bold',
    )
    ax.text(0.5, 0.03, 'instance: per detection, coarse 7x7 logits of its '
            'class -> points -> 224x224 mask', ha='center', fontsize=11,
            weight='bold')  # fmt: skip
    os.makedirs(osp.dirname(path), exist_ok=True)
    save_figure(fig, path, dpi=100, bbox_inches='tight')
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--out', default=osp.join(ROOT, 'docs', 'images', 'architecture.png')
    )
    args = parser.parse_args()
    draw(args.out)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
