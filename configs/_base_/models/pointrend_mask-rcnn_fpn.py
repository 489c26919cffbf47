# The PointRend mask branch of Mask R-CNN (paper section 4), for configs that
# inherit an mmdet Mask R-CNN (FPN, 256 channels) recipe:
#   _base_ = ['mmdet::...', '../_base_/models/pointrend_mask-rcnn_fpn.py']
#   model = dict(roi_head=_base_.pointrend_roi_head)
# It is a variable, not a `model` delta, so that it can sit beside an mmdet
# base without a duplicate `model` key. Inference settings (5 steps from 7x7
# to 224x224, N = 28 x 28, the 28x28 grid rendered first) are the RoI head's
# defaults; set test_cfg.rcnn.subdivision_* only to change them.
pointrend_roi_head = dict(
    type='mmpointrend.PointRendMaskRoIHead',
    # 14x14 bilinear grid inside each box, from P2 only.
    mask_roi_extractor=dict(
        _delete_=True,
        type='mmpointrend.GridRoIExtractor',
        featmap_strides=[4],
        output_size=14,
        out_channels=256),
    mask_head=dict(
        _delete_=True,
        type='mmpointrend.PointRendCoarseMaskHead',
        num_classes=80,
        in_channels=256,
        conv_out_channels=256,
        num_fcs=2,
        fc_out_channels=1024),
    point_head=dict(
        type='mmpointrend.PointRendMaskPointHead',
        num_classes=80,
        in_channels=256,
        fc_channels=256,
        num_fcs=3,
        coarse_pred_each_layer=True,
        point_sampler=dict(
            type='mmpointrend.UncertaintyPointSampler',
            num_points=14 * 14,
            oversample_ratio=3,  # k
            importance_sample_ratio=0.75)))  # beta
