"""``SyntheticPeople``: the in-memory synthetic dataset, and the captions of its images."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from reidkit.data.records import Record
from reidkit.data.synth.attributes import Identity
from reidkit.data.synth.body import Pose
from reidkit.data.synth.captions import caption
from reidkit.data.synth.render import SynthSettings, draw_pose, parse_uri, render_uri
from reidkit.data.sysu import CAMERAS, VISIBLE_CAMERAS, camera_modality
from reidkit.profiles import Profile, get_profile


def image_pose(settings: SynthSettings, pid: int, cam: int, index: int) -> Pose:
    """The pose of one image: the first numbers its RNG draws (so captions need no render)."""
    rng = np.random.default_rng(np.random.SeedSequence([settings.seed, pid, cam, index]))
    return draw_pose(rng, settings.jitter)


def image_captions(settings: SynthSettings, pid: int, cam: int, index: int) -> list[str]:
    """Two captions of one image; colour words only for visible cameras."""
    person = settings.identity(pid)
    pose = image_pose(settings, pid, cam, index)
    rng = np.random.default_rng(np.random.SeedSequence([settings.seed, pid, cam, index, 0xCA]))
    in_colour = cam in VISIBLE_CAMERAS
    return [caption(person, pose, rng, in_colour) for _ in range(2)]


class SyntheticPeople:
    """Synthetic identities seen by six cameras, sized by a profile.

    Identities ``0 .. train_ids-1`` form the training split and the next ``test_ids`` the test
    split. Records carry ``synth://`` paths: images are rendered when first read, then cached.

    >>> people = SyntheticPeople(seed=0, profile="smoke")
    >>> people.render(0, 1, 0).size  # (width, height)
    (32, 64)
    """

    def __init__(
        self,
        seed: int = 0,
        profile: Profile | str | None = None,
        *,
        train_ids: int | None = None,
        test_ids: int | None = None,
        images_per_camera: int | None = None,
        img_size: tuple[int, int] | None = None,
        **knobs: float,
    ) -> None:
        prof = profile if isinstance(profile, Profile) else get_profile(profile)
        height, width = img_size or prof.img_size
        self.settings = SynthSettings(seed=seed, height=height, width=width, **knobs)
        self.train_ids = prof.train_ids if train_ids is None else train_ids
        self.test_ids = prof.test_ids if test_ids is None else test_ids
        self.images_per_camera = (
            prof.images_per_camera if images_per_camera is None else images_per_camera
        )
        for name in ("train_ids", "test_ids", "images_per_camera"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

    def __repr__(self) -> str:
        s = self.settings
        return (
            f"SyntheticPeople(seed={s.seed}, size={s.height}x{s.width}, train_ids="
            f"{self.train_ids}, test_ids={self.test_ids}, "
            f"images_per_camera={self.images_per_camera})"
        )

    @property
    def train_pids(self) -> range:
        return range(self.train_ids)

    @property
    def test_pids(self) -> range:
        return range(self.train_ids, self.train_ids + self.test_ids)

    def identity(self, pid: int) -> Identity:
        """The attributes of person ``pid``."""
        return self.settings.identity(pid)

    def records(
        self,
        pids: Sequence[int],
        cameras: Sequence[int] = CAMERAS,
        images: Sequence[int] | None = None,
    ) -> list[Record]:
        """One record per image of each person in each camera that sees them; ``images``
        picks which of the ``images_per_camera`` images of each camera (all by default)."""
        chosen = range(self.images_per_camera) if images is None else images
        if any(not 0 <= index < self.images_per_camera for index in chosen):
            raise ValueError(
                f"images: indices must lie in 0..{self.images_per_camera - 1} "
                f"(images_per_camera), got {list(chosen)}"
            )
        out = []
        for pid in pids:
            for cam in self.identity(pid).cameras:
                if cam not in cameras:
                    continue
                modality = camera_modality(cam)
                for index in chosen:
                    out.append(Record(self.settings.uri(pid, cam, index), pid, cam, modality))
        return out

    def train_records(self) -> list[Record]:
        return self.records(self.train_pids)

    def test_records(self) -> list[Record]:
        return self.records(self.test_pids)

    def render(self, pid: int, cam: int, index: int = 0) -> Image.Image:
        """One image as an RGB PIL image (rendered on demand, then cached)."""
        return render_uri(self.settings.uri(pid, cam, index))

    def captions(self, record: Record | str) -> list[str]:
        """The two captions of a record (or ``synth://`` address)."""
        settings, pid, cam, index = parse_uri(getattr(record, "path", record))
        return image_captions(settings, pid, cam, index)
