"""A convolutional stem for the ViT: the *hybrid* architecture of the ViT paper (its §3.1).

A plain ViT cuts the image into 16x16 patches and projects each with one linear layer (one
strided convolution). The hybrid ViT instead forms its tokens from the feature map of a small
CNN: every position of the map is a token. Convolutions build in locality and translation
equivariance, which a transformer trained from scratch must otherwise learn from data, so a
hybrid learns far faster on small data sets (Xiao et al., 2021, "Early convolutions help
transformers see better"). That is why the CPU profiles train a hybrid: with ~600 steps and no
pretrained weights a plain ViT barely leaves chance (chapter 4 shows the comparison).

    image (B, 3, H, W)
      -> conv 3x3 stride 2, BN, ReLU                          (B, w0, H/2,  W/2)
      -> residual block stride 2 per further width            (B, w_i, H/2^(i+1), ...)
      -> 1x1 convolution to the embedding width D             (B, D, H/16, W/16)
      -> flatten: one token per position, row-major           (B, N, D)

The stem has the same interface as ``PatchEmbed`` (``img_size``, ``grid_size``,
``num_patches``, images in, tokens out), so the rest of the ViT does not know which it has.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def check_image_size(x: Tensor, img_size: tuple[int, int]) -> None:
    """A clear error when images (..., H, W) are not the size the token grid was built for."""
    size = tuple(x.shape[-2:])
    if size != img_size:
        raise ValueError(
            f"input images are {size} (H, W); this model was built for {img_size}: "
            f"resize them or create the model with img_size={size}"
        )


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with a shortcut (ResNet's basic block); ``stride`` 2 halves the map."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.act = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: Tensor) -> Tensor:
        y = self.act(self.bn1(self.conv1(x)))  # (B, C_out, H/stride, W/stride)
        y = self.bn2(self.conv2(y))
        return self.act(y + self.shortcut(x))


class ConvStem(nn.Module):
    """Images (B, C, H, W) -> tokens (B, N, D) through a small CNN of total stride ``patch_size``.

    ``widths`` are the channels after each stride-2 stage: the first stage is one 3x3
    convolution, each later one ``blocks`` :class:`ResidualBlock` (the first of them strided).
    ``len(widths)`` must equal ``log2(patch_size)`` (four stages for 16-pixel tokens).
    """

    def __init__(
        self,
        img_size: tuple[int, int],
        patch_size: int,
        in_chans: int,
        embed_dim: int,
        widths: tuple[int, ...] = (32, 64, 128, 256),
        blocks: int = 2,
    ) -> None:
        super().__init__()
        stages = math.log2(patch_size)
        if stages != int(stages) or len(widths) != int(stages):
            raise ValueError(
                f"a conv stem of patch_size {patch_size} needs log2({patch_size}) stride-2 "
                f"stages, one width each; got widths {widths}"
            )
        height, width = img_size
        if height % patch_size or width % patch_size:
            raise ValueError(f"img_size {img_size} must be a multiple of patch_size {patch_size}")
        self.img_size = img_size
        self.grid_size = (height // patch_size, width // patch_size)
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        layers: list[nn.Module] = [
            nn.Conv2d(in_chans, widths[0], 3, 2, 1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        ]
        for a, b in zip(widths, widths[1:]):
            layers.append(ResidualBlock(a, b, stride=2))
            layers += [ResidualBlock(b, b) for _ in range(blocks - 1)]
        self.cnn = nn.Sequential(*layers)
        self.proj = nn.Conv2d(widths[-1], embed_dim, kernel_size=1)  # a token per position

    def forward(self, x: Tensor) -> Tensor:
        check_image_size(x, self.img_size)
        # channels-last memory lets the CPU convolution kernels run about 15% faster
        x = x.contiguous(memory_format=torch.channels_last)  # (B, C, H, W), stored as NHWC
        x = self.proj(self.cnn(x))  # (B, D, grid_h, grid_w)
        return x.flatten(2).transpose(1, 2)  # (B, N, D), positions in row-major order


class ConvPyramid(nn.Module):
    """Images (B, C, H, W) -> one token sequence per patch size, from one small CNN.

    The stages are ``ConvStem``'s (``widths[i]`` channels after stage i, total stride 2^(i+1));
    the tokens of patch size p are the map after stage log2(p), projected by a 1x1 convolution
    to that output's width. A hybrid CrossViT takes its small-patch tokens at stride 8 and its
    large-patch tokens at stride 16 of the same CNN, so it costs one stem, as the hybrid ViT.
    """

    def __init__(
        self,
        img_size: tuple[int, int],
        patch_sizes: tuple[int, ...],
        in_chans: int,
        embed_dims: tuple[int, ...],
        widths: tuple[int, ...] = (32, 64, 128, 256),
        blocks: int = 2,
    ) -> None:
        super().__init__()
        taps = [math.log2(p) for p in patch_sizes]
        if any(t != int(t) or t < 1 for t in taps) or len(widths) != int(max(taps)):
            raise ValueError(
                f"a conv pyramid for patch sizes {patch_sizes} needs powers of two and one width "
                f"per stride-2 stage up to the largest (log2 {int(max(taps))}); got widths {widths}"
            )
        height, width = img_size
        if height % max(patch_sizes) or width % max(patch_sizes):
            raise ValueError(f"img_size {img_size} must be a multiple of {max(patch_sizes)}")
        self.img_size = img_size
        self.taps = [int(t) - 1 for t in taps]  # index of the stage whose map gives the tokens
        self.grid_sizes = [(height // p, width // p) for p in patch_sizes]
        first = nn.Sequential(
            nn.Conv2d(in_chans, widths[0], 3, 2, 1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        later = [
            nn.Sequential(ResidualBlock(a, b, 2), *[ResidualBlock(b, b) for _ in range(blocks - 1)])
            for a, b in zip(widths, widths[1:])
        ]
        self.stages = nn.ModuleList([first, *later])
        self.proj = nn.ModuleList(
            nn.Conv2d(widths[t], d, kernel_size=1) for t, d in zip(self.taps, embed_dims)
        )

    def forward(self, x: Tensor) -> list[Tensor]:
        check_image_size(x, self.img_size)
        x = x.contiguous(memory_format=torch.channels_last)  # (B, C, H, W), stored as NHWC
        maps = []
        for stage in self.stages:
            x = stage(x)  # (B, widths[i], H / 2^(i+1), W / 2^(i+1))
            maps.append(x)
        # each (B, D_b, grid_h, grid_w) -> (B, N_b, D_b), positions in row-major order
        return [proj(maps[t]).flatten(2).transpose(1, 2) for proj, t in zip(self.proj, self.taps)]
