"""Channel and spatial attention, CSA (Huang and Shen's fused-attention model, eq. 9-12).

A transformer's patch tokens (B, N, C) are put back on their grid (B, C, h, w) and weighed
twice, in the CBAM form (Woo et al., 2018): first which channels matter, then where.

    M'   = A_c(M) * M                                               (9)   CSA.forward_map
    A_c  = sigmoid(MLP(AvgPool(M)) + MLP(MaxPool(M)))               (10)  ChannelAttention
    M''  = A_s(M') * M'                                             (11)  CSA.forward_map
    A_s  = sigmoid(conv7x7([mean over C (M'); max over C (M')]))    (12)  SpatialAttention

Eq. 10 in the paper names two convolutions C_1, C_2 with a ReLU between them; on a pooled
(B, C, 1, 1) descriptor a 1x1 convolution is a linear layer, so the shared MLP here is
Linear(C, C/r) -> ReLU -> Linear(C/r, C), reduction r = 16, no biases, shared by the average-
and the max-pooled descriptor.

**Where eq. 12 is ambiguous, and what we chose.** As printed, eq. 12 reads
``sigma(Conv(Avg(M) + Max(M)))``, and the text around it pools each channel's H x W map down to
1 x 1 and concatenates the two C-vectors into a 1 x 1 x 2C vector. Taken literally that is a
second *channel* descriptor and gives no spatial map at all, which contradicts eq. 11 (a
spatial map A_s weighing M') and the paper's figure of spatial attention maps; the "+" also
contradicts the "concatenated" of the text. We use the standard CBAM spatial attention, which
the paper cites for the max pooling: pool over the *channels* (mean and max at each grid
position), concatenate the two (B, 1, h, w) maps, a 7 x 7 convolution to one map, sigmoid.
The book's "Methods and protocols" page (section 3) records the same decision.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass
class CSAMaps:
    """The weights CSA applied, for visualisation: ``channel`` (B, C) in (0, 1) from eq. 10,
    ``spatial`` (B, h, w) in (0, 1) from eq. 12."""

    channel: Tensor
    spatial: Tensor


class ChannelAttention(nn.Module):
    """Eq. 10: one weight per channel, sigmoid(MLP(avg-pooled) + MLP(max-pooled))."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        if channels < 1 or reduction < 1:
            raise ValueError(f"channels and reduction must be >= 1, got {channels}, {reduction}")
        hidden = max(channels // reduction, 1)
        self.mlp = nn.Sequential(
            nn.Linear(channels, hidden, bias=False),  # C_1 of eq. 10
            nn.ReLU(),
            nn.Linear(hidden, channels, bias=False),  # C_2 of eq. 10
        )

    def forward(self, x: Tensor) -> Tensor:
        """A feature map (B, C, h, w) -> channel weights (B, C)."""
        average = x.mean(dim=(2, 3))  # (B, C): Avg(M)
        peak = x.amax(dim=(2, 3))  # (B, C): Max(M)
        return torch.sigmoid(self.mlp(average) + self.mlp(peak))  # (B, C)


class SpatialAttention(nn.Module):
    """Eq. 12 (CBAM form): one weight per grid position from the channel-mean and channel-max
    maps, sigmoid(conv_k([mean_C; max_C])), zero padding keeps the grid size."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd number, got {kernel_size}")
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """A feature map (B, C, h, w) -> the spatial map (B, h, w)."""
        mean = x.mean(dim=1, keepdim=True)  # (B, 1, h, w)
        peak = x.amax(dim=1, keepdim=True)  # (B, 1, h, w)
        pooled = torch.cat([mean, peak], dim=1)  # (B, 2, h, w)
        return torch.sigmoid(self.conv(pooled)).squeeze(1)  # (B, h, w)


def tokens_to_map(tokens: Tensor, grid: tuple[int, int]) -> Tensor:
    """Patch tokens (B, N, C) in row-major order -> their feature map (B, C, h, w)."""
    if tokens.dim() != 3:
        raise ValueError(f"expected patch tokens (B, N, C), got shape {tuple(tokens.shape)}")
    h, w = grid
    B, N, C = tokens.shape
    if N != h * w:
        raise ValueError(
            f"{N} patch tokens do not fill a {h} x {w} grid (expected {h * w}); pass the "
            f"patch tokens only, without the CLS token"
        )
    return tokens.transpose(1, 2).reshape(B, C, h, w)  # (B, C, h, w)


def map_to_tokens(x: Tensor) -> Tensor:
    """A feature map (B, C, h, w) -> patch tokens (B, h*w, C), row-major."""
    return x.flatten(2).transpose(1, 2)  # (B, N, C)


class ChannelSpatialAttention(nn.Module):
    """CSA: channel attention (eq. 9-10) then spatial attention (eq. 11-12), no residual.

    ``forward(tokens, grid)`` works on patch tokens (B, N, C) of an ``h x w`` grid and returns
    tokens of the same shape (with ``return_maps=True`` also the :class:`CSAMaps`);
    ``forward_map`` works on a feature map (B, C, h, w) directly (a CNN's). It holds no
    knowledge of the model around it, so any backbone or branch can use it.
    """

    def __init__(self, dim: int, reduction: int = 16, kernel_size: int = 7) -> None:
        super().__init__()
        self.dim = dim
        self.channel = ChannelAttention(dim, reduction)
        self.spatial = SpatialAttention(kernel_size)

    def forward_map(self, x: Tensor) -> tuple[Tensor, CSAMaps]:
        """A feature map M (B, C, h, w) -> (M'' (B, C, h, w), the weights applied)."""
        if x.dim() != 4 or x.shape[1] != self.dim:
            raise ValueError(
                f"expected a feature map (B, {self.dim}, h, w), got shape {tuple(x.shape)}"
            )
        channel = self.channel(x)  # (B, C): A_c(M)
        x = x * channel[:, :, None, None]  # eq. 9: M' = A_c(M) * M, (B, C, h, w)
        spatial = self.spatial(x)  # (B, h, w): A_s(M')
        x = x * spatial[:, None]  # eq. 11: M'' = A_s(M') * M', (B, C, h, w)
        return x, CSAMaps(channel=channel, spatial=spatial)

    def forward(
        self, tokens: Tensor, grid: tuple[int, int], return_maps: bool = False
    ) -> Tensor | tuple[Tensor, CSAMaps]:
        """Patch tokens (B, N, C), N = h * w -> refined tokens (B, N, C) [, CSAMaps]."""
        refined, maps = self.forward_map(tokens_to_map(tokens, grid))  # (B, C, h, w)
        refined_tokens = map_to_tokens(refined)  # (B, N, C)
        return (refined_tokens, maps) if return_maps else refined_tokens

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
