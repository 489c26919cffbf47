"""The lightweight coarse mask head of PointRend (paper section 4)."""

from __future__ import annotations

import torch
from mmdet.models.roi_heads.mask_heads import FCNMaskHead

# Private helpers of mmdet 3.x's FCNMaskHead (present in 3.0-3.3): the
# chunked paste itself; requirements pin mmdet>=3.3,<3.4.
from mmdet.models.roi_heads.mask_heads.fcn_mask_head import (
    BYTES_PER_FLOAT,
    GPU_MEM_LIMIT,
    _do_paste_mask,
)
from mmdet.utils import InstanceList
from mmengine.config import ConfigDict
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor, nn

from mmpointrend.registry import MODELS
from mmpointrend.utils.typing_utils import OptConfigType, OptMultiConfig
from mmpointrend.utils.validation import check_positive_ints

from ...utils.profiling import region


@MODELS.register_module()
class PointRendCoarseMaskHead(FCNMaskHead):
    """Coarse ``S x S`` mask logits from ``2S x 2S`` RoI features.

    A ``k x k`` stride-``k`` conv with ReLU (256 channels), ``num_fcs``
    fully-connected layers with ReLU (1024 wide) and a linear layer giving
    an ``S x S`` mask per class (``k = 2``, 14 -> 7 by default).
    Targets and loss are mmdet's :class:`FCNMaskHead` ones; pasting
    (:meth:`predict_by_feat`) takes the rendered masks of the predicted
    classes.

    Args:
        num_classes (int): Number of classes ``K``.
        in_channels (int): RoI feature channels. Defaults to 256.
        conv_out_channels (int): Channels of the downsampling conv.
            Defaults to 256.
        roi_feat_size (int): Side of the input RoI features. Defaults to 14.
        downsample_factor (int): Kernel and stride of the conv. Defaults
            to 2.
        num_fcs (int): Hidden fully-connected layers. Defaults to 2.
        fc_out_channels (int): Their width. Defaults to 1024.
        class_agnostic (bool): Predict one mask for all classes (mmdet's
            ``CoarseMaskHead`` ignores this flag). Defaults to False.
        loss_mask (dict, optional): Mask loss. Defaults to mmdet's
            ``CrossEntropyLoss(use_mask=True)``.
        init_cfg (dict, optional): Init config; by default convs use
            Kaiming (fan-out), FCs Kaiming-uniform (Caffe2 Xavier) and the
            predictor N(0, 0.001), as in detectron2.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 256,
        conv_out_channels: int = 256,
        roi_feat_size: int = 14,
        downsample_factor: int = 2,
        num_fcs: int = 2,
        fc_out_channels: int = 1024,
        class_agnostic: bool = False,
        loss_mask: OptConfigType = None,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        check_positive_ints(
            'PointRendCoarseMaskHead',
            num_classes=num_classes,
            in_channels=in_channels,
            conv_out_channels=conv_out_channels,
            fc_out_channels=fc_out_channels,
            roi_feat_size=roi_feat_size,
            downsample_factor=downsample_factor,
        )
        if roi_feat_size % downsample_factor:
            raise ValueError(
                f'roi_feat_size={roi_feat_size} is not divisible by '
                f'downsample_factor={downsample_factor}'
            )
        if loss_mask is None:
            loss_mask = dict(
                type='mmdet.CrossEntropyLoss', use_mask=True, loss_weight=1.0
            )
        super().__init__(
            num_convs=0,
            roi_feat_size=roi_feat_size,
            in_channels=in_channels,
            conv_out_channels=conv_out_channels,
            num_classes=num_classes,
            class_agnostic=class_agnostic,
            upsample_cfg=dict(type=None),
            loss_mask=loss_mask,
            init_cfg=init_cfg,
        )
        # FCNMaskHead's 1x1 logits conv is replaced by the FC predictor.
        del self.conv_logits
        self.output_size = roi_feat_size // downsample_factor
        self.out_channels = 1 if class_agnostic else num_classes
        self.downsample_conv = nn.Conv2d(
            in_channels,
            conv_out_channels,
            downsample_factor,
            stride=downsample_factor,
        )
        fc_in = conv_out_channels * self.output_size**2
        self.fcs = nn.ModuleList()
        for _ in range(num_fcs):
            self.fcs.append(nn.Linear(fc_in, fc_out_channels))
            fc_in = fc_out_channels
        self.fc_logits = nn.Linear(
            fc_in, self.out_channels * self.output_size**2
        )

    def init_weights(self) -> None:
        """detectron2's initialisation unless an ``init_cfg`` is given."""
        BaseModule.init_weights(self)
        if self.init_cfg is not None:
            return
        nn.init.kaiming_normal_(
            self.downsample_conv.weight, mode='fan_out', nonlinearity='relu'
        )
        nn.init.zeros_(self.downsample_conv.bias)
        for fc in self.fcs:
            nn.init.kaiming_uniform_(fc.weight, a=1)
            nn.init.zeros_(fc.bias)
        nn.init.normal_(self.fc_logits.weight, std=0.001)
        nn.init.zeros_(self.fc_logits.bias)

    def forward(self, x: Tensor) -> Tensor:
        """Coarse mask logits.

        Args:
            x (Tensor): (R, C, 2S, 2S) RoI features.

        Returns:
            Tensor: (R, K or 1, S, S) logits.
        """
        x = torch.relu(self.downsample_conv(x)).flatten(1)
        for fc in self.fcs:
            x = torch.relu(fc(x))
        size = self.output_size
        return self.fc_logits(x).view(-1, self.out_channels, size, size)

    def predict_by_feat(
        self,
        mask_preds: tuple[Tensor],
        results_list: InstanceList,
        batch_img_metas: list[dict],
        rcnn_test_cfg: ConfigDict,
        rescale: bool = False,
        activate_map: bool = False,
    ) -> InstanceList:
        """Paste rendered masks into full-image binary masks.

        Unlike :meth:`FCNMaskHead.predict_by_feat`, ``mask_preds`` are the
        subdivision renderer's logits of each detection's predicted class
        (one channel), not the coarse ``K``-channel output.

        Args:
            mask_preds (tuple[Tensor]): Per image, (n_i, 1, M, M) logits.
            results_list (list[InstanceData]): Detections per image;
                ``masks`` (n_i, H, W) bool is set on each.
            batch_img_metas (list[dict]): Image meta information.
            rcnn_test_cfg (ConfigDict): With ``mask_thr_binary``.
            rescale (bool): Paste at the original image size and rescale the
                boxes. Defaults to False.
            activate_map (bool): ``mask_preds`` are already probabilities.
                Defaults to False.

        Returns:
            list[InstanceData]: ``results_list`` with ``masks``.
        """
        for preds, results, meta in zip(
            mask_preds, results_list, batch_img_metas
        ):
            probs = preds if activate_map else preds.sigmoid()
            with region('pasting'):
                paste_masks_into_image(
                    probs,
                    results,
                    meta,
                    rcnn_test_cfg.mask_thr_binary,
                    rescale,
                )
        return results_list


def paste_masks_into_image(
    probs: Tensor,
    results: InstanceData,
    img_meta: dict,
    threshold: float,
    rescale: bool,
) -> None:
    """Paste per-box mask probabilities into full-image binary masks.

    Follows mmdet's conventions: with ``rescale`` the boxes are divided by
    the image's ``scale_factor`` (in ``results`` too) and the masks have the
    original size, otherwise the network-input size.

    Args:
        probs (Tensor): (n, 1, M, M) probabilities of each detection's mask.
        results (InstanceData): Detections of one image; ``masks`` is set.
        img_meta (dict): Meta information with ``ori_shape`` and
            ``scale_factor``.
        threshold (float): Binarisation threshold (``mask_thr_binary``).
        rescale (bool): See above.
    """
    scale = results.bboxes.new_tensor(img_meta['scale_factor']).repeat(1, 2)
    img_h, img_w = img_meta['ori_shape'][:2]
    if rescale:
        results.bboxes = results.bboxes / scale
    else:
        img_h = int(round(img_h * scale[0, 1].item()))
        img_w = int(round(img_w * scale[0, 0].item()))
    boxes = results.bboxes.clone()
    # Zero-width/height boxes would divide by zero inside the paste.
    boxes[:, 2:] = torch.maximum(boxes[:, 2:], boxes[:, :2] + 1e-3)
    num = probs.shape[0]
    masks = probs.new_zeros((num, img_h, img_w), dtype=torch.bool)
    if num == 0:
        results.masks = masks
        return
    # A box with a NaN/inf coordinate or without any overlap with the image
    # has an empty mask (pasting it would index outside the image).
    inside = (
        torch.isfinite(boxes).all(dim=1)
        & (boxes[:, 2] > 0)
        & (boxes[:, 3] > 0)
        & (boxes[:, 0] < img_w)
        & (boxes[:, 1] < img_h)
    )
    keep = inside.nonzero()[:, 0]
    if keep.numel() == 0:
        # split() of an empty index gives one empty chunk, which mmdet's
        # paste cannot take (it reduces over the boxes).
        results.masks = masks
        return
    if probs.device.type == 'cpu':
        # One box at a time touches only its own window of the image.
        chunks = keep.split(1)
    else:
        per_chunk = max(
            1, int(GPU_MEM_LIMIT // (img_h * img_w * BYTES_PER_FLOAT))
        )
        chunks = keep.split(per_chunk)
    for inds in chunks:
        pasted, spatial = _do_paste_mask(
            probs[inds],
            boxes[inds],
            img_h,
            img_w,
            skip_empty=probs.device.type == 'cpu',
        )
        masks[(inds,) + spatial] = pasted >= threshold
    results.masks = masks
