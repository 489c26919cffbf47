# docs/custom_dataset.md, instance: Mask R-CNN + PointRend on a COCO json of
# your own classes. Every line a new dataset needs is in this file; the
# model and schedule come from the small CPU recipe.
_base_ = '../synthetic/pointrend_mask-rcnn_r18-slim_fpn_2xb2-400_synthetic.py'

# 1. Classes: the json's category names, in the order of their ids, and
#    their number on the box head, the coarse mask head and the point head.
classes = ('round', 'long')
palette = [(220, 20, 60), (0, 130, 200)]
num_classes = len(classes)
model = dict(
    roi_head=dict(
        bbox_head=dict(num_classes=num_classes),
        mask_head=dict(num_classes=num_classes),
        point_head=dict(num_classes=num_classes)))

# 2. Data: images in <data_root>/img_dir/{train,val}/ and COCO instance
#    files <data_root>/annotations/instances_{train,val}.json (polygons or
#    RLE). CheckedCocoDataset refuses a json whose categories disagree
#    with `classes`.
data_root = 'data/my_dataset'
metainfo = dict(classes=classes, palette=palette)
train_dataloader = dict(
    dataset=dict(data_root=data_root, metainfo=metainfo))
val_dataloader = dict(dataset=dict(data_root=data_root, metainfo=metainfo))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + '/annotations/instances_val.json')
test_evaluator = val_evaluator

# 3. Fine-tuning: see the semantic config; here the class-specific layers
#    are the box classifier and regressor, the coarse mask predictor and
#    the point MLP.
load_from = None
