"""LVIS annotations restricted to the 80 COCO categories ("COCO-fied").

The paper's AP* scores COCO-trained models against LVIS v0.5 annotations of
the COCO categories, which have higher-quality masks than COCO's. LVIS
categories are matched to COCO ones through their WordNet synsets (the
correspondence published with the LVIS dataset).

The output keeps all 80 categories, ordered by COCO id and named as in COCO,
so that mmdet's ``CocoDataset`` and ``LVISMetric`` map a model's label ``i``
to the ``i``-th COCO category. Image ``file_name`` becomes
``<split>/<id>.jpg`` taken from ``coco_url``, relative to the COCO root.
"""

from __future__ import annotations

import copy

#: COCO category id -> WordNet synset of the matching LVIS category.
COCO_ID_TO_SYNSET = {
    1: 'person.n.01', 2: 'bicycle.n.01', 3: 'car.n.01',
    4: 'motorcycle.n.01', 5: 'airplane.n.01', 6: 'bus.n.01',
    7: 'train.n.01', 8: 'truck.n.01', 9: 'boat.n.01',
    10: 'traffic_light.n.01', 11: 'fireplug.n.01', 13: 'stop_sign.n.01',
    14: 'parking_meter.n.01', 15: 'bench.n.01', 16: 'bird.n.01',
    17: 'cat.n.01', 18: 'dog.n.01', 19: 'horse.n.01', 20: 'sheep.n.01',
    21: 'beef.n.01', 22: 'elephant.n.01', 23: 'bear.n.01',
    24: 'zebra.n.01', 25: 'giraffe.n.01', 27: 'backpack.n.01',
    28: 'umbrella.n.01', 31: 'bag.n.04', 32: 'necktie.n.01',
    33: 'bag.n.06', 34: 'frisbee.n.01', 35: 'ski.n.01',
    36: 'snowboard.n.01', 37: 'ball.n.06', 38: 'kite.n.03',
    39: 'baseball_bat.n.01', 40: 'baseball_glove.n.01',
    41: 'skateboard.n.01', 42: 'surfboard.n.01', 43: 'tennis_racket.n.01',
    44: 'bottle.n.01', 46: 'wineglass.n.01', 47: 'cup.n.01',
    48: 'fork.n.01', 49: 'knife.n.01', 50: 'spoon.n.01', 51: 'bowl.n.03',
    52: 'banana.n.02', 53: 'apple.n.01', 54: 'sandwich.n.01',
    55: 'orange.n.01', 56: 'broccoli.n.01', 57: 'carrot.n.01',
    58: 'frank.n.02', 59: 'pizza.n.01', 60: 'doughnut.n.02',
    61: 'cake.n.03', 62: 'chair.n.01', 63: 'sofa.n.01', 64: 'pot.n.04',
    65: 'bed.n.01', 67: 'dining_table.n.01', 70: 'toilet.n.02',
    72: 'television_receiver.n.01', 73: 'laptop.n.01', 74: 'mouse.n.04',
    75: 'remote_control.n.01', 76: 'computer_keyboard.n.01',
    77: 'cellular_telephone.n.01', 78: 'microwave.n.02', 79: 'oven.n.01',
    80: 'toaster.n.02', 81: 'sink.n.01', 82: 'electric_refrigerator.n.01',
    84: 'book.n.01', 85: 'clock.n.01', 86: 'vase.n.01',
    87: 'scissors.n.01', 88: 'teddy.n.01', 89: 'hand_blower.n.01',
    90: 'toothbrush.n.01',
}  # fmt: skip


def cocofy_lvis(lvis: dict, coco_classes: tuple[str, ...]) -> dict:
    """Keep the LVIS annotations of COCO categories, with COCO ids.

    Args:
        lvis (dict): An LVIS (v0.5 or v1) annotation file, loaded.
        coco_classes (tuple[str, ...]): The 80 COCO class names in id order
            (``mmdet.datasets.CocoDataset.METAINFO['classes']``).

    Returns:
        dict: The COCO-fied annotation file (the input is not modified).
    """
    coco_ids = sorted(COCO_ID_TO_SYNSET)
    if len(coco_classes) != len(coco_ids):
        raise ValueError(
            f'expected the {len(coco_ids)} COCO class names, got '
            f'{len(coco_classes)}'
        )
    synset_to_coco = {s: i for i, s in COCO_ID_TO_SYNSET.items()}
    lvis_to_coco = {
        cat['id']: synset_to_coco[cat['synset']]
        for cat in lvis['categories']
        if cat.get('synset') in synset_to_coco
    }
    if not lvis_to_coco:
        raise ValueError(
            'no LVIS category matches a COCO synset: is this an LVIS '
            'annotation file (categories need a "synset" field)?'
        )
    out = {k: copy.deepcopy(v) for k, v in lvis.items() if k != 'annotations'}
    annotations = []
    for ann in lvis['annotations']:
        coco_id = lvis_to_coco.get(ann['category_id'])
        if coco_id is None:
            continue
        new = dict(ann, category_id=coco_id, id=len(annotations) + 1)
        annotations.append(new)
    out['annotations'] = annotations
    for image in out['images']:
        for key in ('not_exhaustive_category_ids', 'neg_category_ids'):
            image[key] = sorted(
                {
                    lvis_to_coco[c]
                    for c in image.get(key, [])
                    if c in lvis_to_coco
                }
            )
        if 'coco_url' in image:
            image['file_name'] = '/'.join(image['coco_url'].split('/')[-2:])
    # Keep the LVIS fields (the LVIS evaluator reads ``frequency``) under
    # COCO ids and names; a category absent from this LVIS file still gets
    # an entry so that label i always maps to the i-th COCO id.
    lvis_cats = {
        cat['synset']: cat for cat in lvis['categories'] if 'synset' in cat
    }
    out['categories'] = []
    for cid, name in zip(coco_ids, coco_classes):
        synset = COCO_ID_TO_SYNSET[cid]
        base = lvis_cats.get(synset, dict(frequency='f'))
        out['categories'].append(
            dict(copy.deepcopy(base), id=cid, name=name, synset=synset)
        )
    return out
