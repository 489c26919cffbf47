# Evaluate a COCO-trained model against COCO-fied LVIS v0.5 val masks (the
# paper's AP*). Prepare the annotations once:
#   python tools/dataset_converters/lvis_cocofied.py \
#       data/lvis/lvis_v0.5_val.json data/lvis/lvis_v0.5_val_cocofied.json
# then: python tools/test.py THIS_CONFIG CHECKPOINT
# (needs `pip install lvis`; images are read from data/coco/).
_base_ = './pointrend_mask-rcnn_r50-caffe_fpn_ms-1x_coco.py'
# Image file names are 'val2017/<id>.jpg' (from coco_url), under data/coco/.
test_dataloader = dict(
    dataset=dict(
        data_root='data/',
        ann_file='lvis/lvis_v0.5_val_cocofied.json',
        data_prefix=dict(img='coco/')))
test_evaluator = dict(
    _delete_=True,
    type='mmpointrend.LVISCompatMetric',  # mmdet's LVISMetric + NumPy 2
    ann_file='data/lvis/lvis_v0.5_val_cocofied.json',
    metric=['segm'])
