# docs/custom_dataset.md, semantic: SemanticFPN + PointRend on a folder of
# images and label PNGs of your own classes. Every line a new dataset needs
# is in this file; the model and schedule come from the small CPU recipe.
_base_ = '../synthetic/pointrend_fpn_r18-slim_2xb4-600_synthetic-256x256.py'

# 1. Classes: names and colours in label order (pixel value i = classes[i];
#    255 = ignore), and their number on BOTH decode heads.
classes = ('background', 'round', 'long')
palette = [[0, 0, 0], [220, 20, 60], [0, 130, 200]]
num_classes = len(classes)
model = dict(decode_head=[
    dict(_base_.model.decode_head[0], num_classes=num_classes),
    dict(_base_.model.decode_head[1], num_classes=num_classes),
])

# 2. Data: <data_root>/img_dir/{train,val}/NAME.png with the label map
#    <data_root>/ann_dir/{train,val}/NAME.png (mmseg's BaseSegDataset).
data_root = 'data/my_dataset'
metainfo = dict(classes=classes, palette=palette)
train_dataloader = dict(
    dataset=dict(data_root=data_root, metainfo=metainfo))
val_dataloader = dict(dataset=dict(data_root=data_root, metainfo=metainfo))
test_dataloader = val_dataloader

# 3. Fine-tuning: start from a checkpoint trained on other classes. The
#    layers whose shape depends on the class count (the coarse classifier
#    and every layer of the point MLP, whose inputs include the K coarse
#    logits) keep their initialisation; the log lists them.
load_from = None
