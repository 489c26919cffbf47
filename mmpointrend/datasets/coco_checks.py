"""Checks of COCO instance annotations before training or evaluation.

Two mistakes in a hand-made COCO json otherwise go unnoticed or crash far
from their cause: an annotation whose ``category_id`` is not among the
file's categories (mmdet drops it silently), and a polygon of fewer than
three points (pycocotools reads a 4-number polygon as a box and crashes
in evaluation with "Argument 'bb' has incorrect type").
"""

from __future__ import annotations

import warnings

from mmdet.datasets import CocoDataset

from mmpointrend.registry import DATASETS


def check_coco_categories(coco: dict, source: str) -> None:
    """Raise when annotations use category ids the file does not define.

    Args:
        coco (dict): The loaded COCO json (``categories``, ``annotations``).
        source (str): File name for the message.

    Raises:
        ValueError: Listing the offending annotations and the valid ids.
    """
    valid = {c['id'] for c in coco.get('categories', [])}
    bad = [
        (a.get('id'), a.get('category_id'))
        for a in coco.get('annotations', [])
        if a.get('category_id') not in valid
    ]
    if bad:
        shown = ', '.join(f'annotation {i}: category {c}' for i, c in bad[:5])
        raise ValueError(
            f'{source}: {len(bad)} annotations use a category_id that is not '
            f'in "categories" ({shown}{", ..." if len(bad) > 5 else ""}); '
            f'valid ids are {sorted(valid)}. Fix the ids or add the '
            'categories; mmdet would drop these objects silently.'
        )


def repair_degenerate_polygons(coco: dict, source: str) -> list:
    """Drop polygons of fewer than 3 points; ignore objects left without.

    An object whose every polygon is degenerate becomes ``iscrowd=1`` with
    an empty mask, i.e. ignored by COCO evaluation, as mmdet's loader
    ignores it in training.

    Args:
        coco (dict): The loaded COCO json, modified in place.
        source (str): File name for the warning.

    Returns:
        list: Ids of the annotations that were changed.
    """
    changed = []
    for ann in coco.get('annotations', []):
        segm = ann.get('segmentation')
        if not isinstance(segm, list) or not segm:
            continue
        kept = [p for p in segm if len(p) >= 6 and len(p) % 2 == 0]
        if len(kept) == len(segm):
            continue
        changed.append(ann.get('id'))
        if kept:
            ann['segmentation'] = kept
        else:
            img = next(
                (
                    i
                    for i in coco.get('images', [])
                    if i.get('id') == ann.get('image_id')
                ),
                None,
            )
            size = [img['height'], img['width']] if img else [1, 1]
            # an uncompressed RLE of an empty mask
            ann['segmentation'] = {'size': size, 'counts': [size[0] * size[1]]}
            ann['iscrowd'] = 1
    if changed:
        warnings.warn(
            f'{source}: {len(changed)} annotations had polygons with fewer '
            f'than 3 points (ids {changed[:10]}); those polygons were '
            'dropped and objects left without a polygon are ignored',
            stacklevel=2,
        )
    return changed


@DATASETS.register_module()
class CheckedCocoDataset(CocoDataset):
    """mmdet's :class:`CocoDataset` that refuses undefined category ids.

    Args:
        *args: Passed to :class:`mmdet.datasets.CocoDataset`.
        **kwargs: Passed to :class:`mmdet.datasets.CocoDataset`.
    """

    def load_data_list(self) -> list[dict]:
        """Check the file, then load it as mmdet does.

        Returns:
            list[dict]: mmdet's data list.
        """
        from mmengine.fileio import load

        check_coco_categories(load(self.ann_file), self.ann_file)
        return super().load_data_list()
