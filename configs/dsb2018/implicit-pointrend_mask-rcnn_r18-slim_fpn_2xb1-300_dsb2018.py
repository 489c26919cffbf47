# Implicit PointRend on the DSB2018 nuclei image: the recipe of
# pointrend_mask-rcnn_r18-slim_fpn_2xb1-300_dsb2018.py with the mask branch of
# ../synthetic/implicit-pointrend_mask-rcnn_r18-slim_fpn_2xb2-400_synthetic.py
# (a parameter head predicting a 3 x 128 point MLP per nucleus).
_base_ = './pointrend_mask-rcnn_r18-slim_fpn_2xb1-300_dsb2018.py'
num_classes = 1
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
            fc_out_channels=256),
        point_head=dict(
            _delete_=True,
            type='mmpointrend.ImplicitPointHead',
            num_classes=num_classes,
            in_channels=width,
            fc_channels=128,
            encoding_channels=128)))
