"""Chapter 5's gallery: one visible and one infrared image through each augmentation, several
random draws side by side, a slider choosing the augmentation (works in the static book)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import torch
from PIL import Image
from plotly.subplots import make_subplots
from torchvision.transforms.functional import to_pil_image

from reidkit.data.augment import AUGMENTATIONS, is_grey
from reidkit.data.transforms import denormalize, train_transform
from reidkit.viz.synth import data_uri


def augmentation_draws(
    image: Image.Image, name: str, img_size: tuple[int, int], draws: int = 4, seed: int = 0
) -> torch.Tensor:
    """``draws`` random outcomes of the augmentation ``name`` alone on ``image``, always
    applied (probability 1; the flip is a coin toss), as images in [0, 1]: (draws, 3, H, W).
    Seeded: the same arguments give the same draws; the global random state is left alone."""
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    pipeline = train_transform(
        img_size, flip=0.5, erasing=1.0, grayscale=1.0, augmentations=[name], channel=1.0
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        outs = [pipeline(image) for _ in range(draws)]
    return denormalize(torch.stack(outs))  # (draws, 3, H, W)


def augmentation_gallery(
    images: Mapping[str, Image.Image],
    names: Sequence[str] = AUGMENTATIONS,
    img_size: tuple[int, int] = (128, 64),
    draws: int = 4,
    seed: int = 0,
) -> go.Figure:
    """Rows: the ``images`` (e.g. ``{"visible": ..., "infrared": ...}``); columns: the image
    as the model sees it without augmentation, then ``draws`` draws of the augmentation the
    slider chooses. A hover says whether a draw is still grey (R = G = B)."""
    if not images or not names:
        raise ValueError("augmentation_gallery needs at least one image and one augmentation")
    rows = list(images)
    fig = make_subplots(
        rows=len(rows),
        cols=draws + 1,
        column_titles=["no augmentation"] + [f"draw {d + 1}" for d in range(draws)],
        row_titles=rows,
        horizontal_spacing=0.01,
        vertical_spacing=0.03,
    )
    for r, row in enumerate(rows, start=1):
        plain = denormalize(train_transform(img_size, augmentations=[])(images[row]))
        fig.add_trace(go.Image(source=data_uri(to_pil_image(plain)), name=row), row=r, col=1)
    for n, name in enumerate(names):
        for r, row in enumerate(rows, start=1):
            for d, out in enumerate(augmentation_draws(images[row], name, img_size, draws, seed)):
                grey = "grey (R = G = B)" if is_grey(out, atol=1 / 255) else "colour"
                fig.add_trace(
                    go.Image(
                        source=data_uri(to_pil_image(out)),
                        visible=n == 0,
                        name=f"{name} {row} {d + 1}",
                        hovertemplate=f"{name}, {row}, draw {d + 1}: {grey}<extra></extra>",
                    ),
                    row=r,
                    col=d + 2,
                )
    per_name = len(rows) * draws
    steps = [
        {
            "method": "update",
            "label": name,
            "args": [
                {
                    "visible": [True] * len(rows)
                    + [k // per_name == n for k in range(len(fig.data) - len(rows))]
                },
                {"title.text": f"augmentation: {name}"},
            ],
        }
        for n, name in enumerate(names)
    ]
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(
        title={"text": f"augmentation: {names[0]}", "x": 0.01},
        sliders=[{"active": 0, "steps": steps, "pad": {"t": 10}}],
        height=140 + len(rows) * min(2.2 * img_size[0], 300),
        margin={"t": 70, "l": 10, "r": 30, "b": 10},
    )
    return fig
