# The Implicit PointRend mask branch of Mask R-CNN (Cheng et al., CVPR 2022),
# with detectron2's defaults, for configs that inherit an mmdet Mask R-CNN
# (FPN, 256 channels) recipe:
#   _base_ = ['mmdet::...', '../_base_/models/implicit-pointrend_mask-rcnn_fpn.py']
#   model = dict(roi_head=_base_.implicit_pointrend_roi_head)
# The parameter head (PointRend's coarse head with a parameter-vector output,
# its size derived from the point head) predicts a 3 x 256 point MLP per RoI;
# training: 196 uniform points per RoI, point BCE + 1e-5 L2 on the predicted
# parameters; inference: 28x28 grid, then 3 steps of 784 points to 224x224.
implicit_pointrend_roi_head = dict(
    type='mmpointrend.ImplicitPointRendRoIHead',
    mask_roi_extractor=dict(
        _delete_=True,
        type='mmpointrend.GridRoIExtractor',
        featmap_strides=[4],
        output_size=14,
        out_channels=256,
    ),
    mask_head=dict(
        _delete_=True,
        type='mmpointrend.ImplicitParamHead',
        num_classes=80,
        in_channels=256,
        conv_out_channels=256,
        num_fcs=2,
        fc_out_channels=1024,
    ),
    point_head=dict(
        type='mmpointrend.ImplicitPointHead',
        num_classes=80,
        in_channels=256,
        fc_channels=256,
        num_fcs=3,
        class_agnostic=False,  # True: 263,169 instead of 283,472 parameters
        image_features=True,
        positional_encoding=True,
        num_train_points=14 * 14,
        params_l2=1e-5,
    ),
)
