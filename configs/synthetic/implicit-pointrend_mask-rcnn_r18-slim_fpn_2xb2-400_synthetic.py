# Implicit PointRend on the synthetic dataset's COCO instances: the small CPU
# recipe of pointrend_mask-rcnn_r18-slim_fpn_2xb2-400_synthetic.py with the
# Implicit PointRend mask branch (a 3 x 128 predicted point MLP).
_base_ = './pointrend_mask-rcnn_r18-slim_fpn_2xb2-400_synthetic.py'
num_classes = 4
width = 64
model = dict(
    roi_head=dict(
        type='mmpointrend.ImplicitPointRendRoIHead',
        mask_head=dict(
            _delete_=True,
            type='mmpointrend.ImplicitParamHead',
            num_classes=num_classes,
            in_channels=width,
            conv_out_channels=width,
            fc_out_channels=256,
        ),
        point_head=dict(
            _delete_=True,
            type='mmpointrend.ImplicitPointHead',
            num_classes=num_classes,
            in_channels=width,
            fc_channels=128,
            encoding_channels=128,
        ),
    )
)
