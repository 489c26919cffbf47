"""The per-point MLP of PointRend, shared by semantic and instance heads."""

from __future__ import annotations

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmpointrend.utils.typing_utils import OptMultiConfig


class PointMLP(BaseModule):
    """Shared multi-layer perceptron over point features (paper section 3.3).

    ``x = cat(fine, coarse)``; each hidden layer is a 1x1 ``Conv1d`` + ReLU,
    optionally followed by re-concatenating the K coarse logits
    (``coarse_pred_each_layer``); a final 1x1 ``Conv1d`` predicts the logits.

    Args:
        fine_channels (int): Channels of the fine-grained point features
            (the sum over all selected levels).
        coarse_channels (int): Channels of the coarse prediction, ``K``.
        out_channels (int): Output logits per point.
        fc_channels (int): Width of the hidden layers. Defaults to 256.
        num_fcs (int): Number of hidden layers. Defaults to 3.
        coarse_pred_each_layer (bool): Concatenate the coarse logits after
            every hidden layer, not only at the input. Defaults to True.
        dropout_ratio (float): Dropout before the predictor; ``<= 0`` turns it
            off. Defaults to 0.
        predictor_std (float): Std of the normal init of the predictor.
            Defaults to 0.001 (detectron2, mmdet; mmseg uses 0.01).
        init_cfg (dict | list[dict], optional): MMEngine init config.
    """

    def __init__(
        self,
        fine_channels: int,
        coarse_channels: int,
        out_channels: int,
        fc_channels: int = 256,
        num_fcs: int = 3,
        coarse_pred_each_layer: bool = True,
        dropout_ratio: float = 0.0,
        predictor_std: float = 0.001,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg)
        self.coarse_pred_each_layer = coarse_pred_each_layer
        self.predictor_std = predictor_std
        self.fine_channels = fine_channels
        self.coarse_channels = coarse_channels
        extra = coarse_channels if coarse_pred_each_layer else 0
        in_ch = fine_channels + coarse_channels
        self.fcs = nn.ModuleList()
        for _ in range(num_fcs):
            self.fcs.append(nn.Conv1d(in_ch, fc_channels, 1))
            in_ch = fc_channels + extra
        if num_fcs == 0:
            in_ch = fine_channels + coarse_channels
        self.dropout = (
            nn.Dropout(dropout_ratio) if dropout_ratio > 0 else nn.Identity()
        )
        self.predictor = nn.Conv1d(in_ch, out_channels, 1)

    def init_weights(self) -> None:
        """Kaiming (fan-out) hidden layers, small normal predictor."""
        super().init_weights()
        if self.init_cfg is not None:
            return
        for fc in self.fcs:
            nn.init.kaiming_normal_(
                fc.weight, mode='fan_out', nonlinearity='relu'
            )
            nn.init.zeros_(fc.bias)
        nn.init.normal_(self.predictor.weight, std=self.predictor_std)
        nn.init.zeros_(self.predictor.bias)

    def forward(
        self, fine: Tensor, coarse: Tensor, out_index: Tensor | None = None
    ) -> Tensor:
        """Predict logits at points.

        Args:
            fine (Tensor): (B, C_fine, P) fine-grained point features.
            coarse (Tensor): (B, K, P) coarse logits at the same points.
            out_index (Tensor, optional): (B,) one output channel per row
                (e.g. the predicted class of each detection). Only that
                channel's predictor row is evaluated.

        Returns:
            Tensor: (B, out_channels, P) point logits, or (B, 1, P) when
            ``out_index`` is given.
        """
        if fine.shape[1] != self.fine_channels:
            raise ValueError(
                f'point head expects {self.fine_channels} fine-grained '
                f'channels but the selected levels give {fine.shape[1]}; '
                'make in_channels list the channels of the levels named in '
                'in_index'
            )
        x = torch.cat((fine, coarse.to(fine.dtype)), dim=1)
        for fc in self.fcs:
            x = torch.relu(fc(x))
            if self.coarse_pred_each_layer:
                x = torch.cat((x, coarse.to(x.dtype)), dim=1)
        x = self.dropout(x)
        if out_index is None:
            return self.predictor(x)
        weight = self.predictor.weight[out_index.long(), :, 0]  # (B, C)
        bias = self.predictor.bias[out_index.long()]
        return (torch.einsum('bc,bcp->bp', weight, x) + bias[:, None])[:, None]
