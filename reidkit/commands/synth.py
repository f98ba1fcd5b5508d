"""``reidkit synth``: write synthetic people in the layout of SYSU-MM01, RegDB or CUHK-PEDES, or
synthetic packages in our visible-X-ray layout (``--layout xray``)."""

from __future__ import annotations

import argparse

HELP = (
    "write synthetic people in the on-disk layout of SYSU-MM01, RegDB or CUHK-PEDES, or "
    "packages in the visible-X-ray layout (xray)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from reidkit.data.synth.layouts import LAYOUTS

    parser.add_argument("--layout", required=True, choices=LAYOUTS, help="dataset layout")
    parser.add_argument(
        "--out", required=True, help="output folder (new, empty or a previous export)"
    )
    parser.add_argument("--ids", type=int, required=True, help="number of identities")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument("--height", type=int, help="image height (default: the profile's)")
    parser.add_argument(
        "--width", type=int, help="image width (default: the profile's; xray: the height)"
    )
    parser.add_argument("--images-per-camera", type=int, help="default: the profile's")
    parser.add_argument("--profile", help="profile for the defaults (smoke, quick, full)")
    parser.add_argument("--overwrite", action="store_true", help="replace a previous export")
    parser.add_argument(
        "--knob",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a difficulty knob of reidkit.data.synth, e.g. --knob noise=0.05 (repeatable; "
        "xray: the knobs of PackageSettings)",
    )


def parse_knobs(items: list[str], layout: str = "sysu") -> dict[str, float]:
    """``["noise=0.05", ...]`` -> ``{"noise": 0.05}``, naming the bad item on error; the knobs
    are those of the people's ``SynthSettings``, or of ``PackageSettings`` for ``xray``."""
    from reidkit.data.synth.packages import PackageSettings
    from reidkit.data.synth.render import SynthSettings

    fields = (PackageSettings if layout == "xray" else SynthSettings).__dataclass_fields__
    allowed = set(fields) - {"seed", "height", "width"}
    knobs = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in allowed:
            raise ValueError(f"--knob {item!r}: expected NAME=VALUE with NAME in {sorted(allowed)}")
        try:
            knobs[name] = float(value)
        except ValueError:
            raise ValueError(f"--knob {item!r}: {value!r} is not a number") from None
    return knobs


def run(args: argparse.Namespace) -> int:
    from reidkit.data.synth.layouts import MARKER, write_layout
    from reidkit.profiles import get_profile

    height, width = get_profile(args.profile).img_size
    height = height if args.height is None else args.height
    if args.layout == "xray":  # packages are square by default
        width = height
    size = (height, width if args.width is None else args.width)
    out = write_layout(
        args.layout,
        args.out,
        args.ids,
        args.seed,
        img_size=size,
        images_per_camera=args.images_per_camera,
        profile=args.profile,
        overwrite=args.overwrite,
        **parse_knobs(args.knob, args.layout),
    )
    print(f"wrote {args.layout} layout with {args.ids} ids ({size[0]}x{size[1]}) to {out}")
    print(f"summary: {out / MARKER}")
    return 0
