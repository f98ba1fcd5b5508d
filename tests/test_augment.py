"""Augmentations by name: what each does to infrared (R = G = B) and colour images, the
per-modality choice in the training configuration, and the batched uint8 data path."""

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from reidkit.data import transforms
from reidkit.data.augment import (
    AUGMENTATIONS,
    ChannelPermute,
    ChannelSelect,
    GreyErasing,
    is_grey,
)
from reidkit.data.batch import Collate, RecordDataset
from reidkit.data.device_augment import BatchAugment, CachedRecordDataset, build_image_cache
from reidkit.data.records import Record, read_image, register_reader
from reidkit.data.transforms import MEAN, STD, train_transform
from reidkit.train.config import DataConfig, config_from_dict
from reidkit.train.datasets import train_transforms, training_data

SIZE = (32, 16)


def colour_image(seed: int = 0, size: tuple[int, int] = SIZE) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8))


def grey_image(seed: int = 0, size: tuple[int, int] = SIZE) -> Image.Image:
    rng = np.random.default_rng(seed)
    grey = rng.integers(0, 256, (*size, 1), dtype=np.uint8)
    return Image.fromarray(np.repeat(grey, 3, axis=2))


def unnormalise(x: torch.Tensor) -> torch.Tensor:
    return x * torch.tensor(STD).view(3, 1, 1) + torch.tensor(MEAN).view(3, 1, 1)


@pytest.mark.parametrize("name", [n for n in AUGMENTATIONS if n != "erasing"])
def test_every_augmentation_but_erasing_keeps_an_infrared_image_grey(name):
    pipeline = train_transform(
        SIZE, flip=1.0, erasing=1.0, grayscale=1.0, augmentations=[name], channel=1.0
    )
    torch.manual_seed(0)
    for seed in range(40):  # TrivialAugment: many ops and strengths
        out = unnormalise(pipeline(grey_image(seed)))
        assert is_grey(out, atol=1e-5), f"{name}, draw {seed}"


def test_torchvision_erasing_puts_coloured_noise_on_an_infrared_image():
    pipeline = train_transform(SIZE, erasing=1.0, augmentations=["erasing"])
    torch.manual_seed(0)
    out = unnormalise(pipeline(grey_image()))
    assert not is_grey(out, atol=1e-3)  # documented: use grey_erasing to keep R = G = B


def test_trivial_augment_changes_images_with_one_op_each():
    pipeline = train_transform(SIZE, augmentations=["trivial_augment"])
    plain = transforms.test_transform(SIZE)(colour_image())
    torch.manual_seed(0)
    outs = torch.stack([pipeline(colour_image()) for _ in range(100)])
    changed = [not torch.allclose(o, plain) for o in outs]
    assert 50 <= sum(changed) < 100  # most draws change the image; identity is one of the ops
    assert "TrivialAugmentWide" in repr(pipeline)


def test_channel_select_copies_one_channel_into_all_three():
    torch.manual_seed(0)
    images = torch.rand(64, 3, 8, 4)
    out = ChannelSelect(p=0.5)(images)
    assert out.shape == images.shape
    changed = [not torch.equal(o, i) for o, i in zip(out, images)]
    assert 15 < sum(changed) < 49  # one draw per image
    chosen = set()
    for o, i, c in zip(out, images, changed):
        if c:
            assert is_grey(o)
            (channel,) = [k for k in range(3) if torch.equal(o[0], i[k])]
            chosen.add(channel)
    assert chosen == {0, 1, 2}
    grey = images[:, :1].expand(-1, 3, -1, -1)
    assert torch.equal(ChannelSelect(p=1.0)(grey), grey)  # infrared: unchanged
    assert is_grey(ChannelSelect(p=1.0)(images[0]))  # one (3, H, W) image


def test_channel_permute_reorders_the_channels_of_each_image():
    torch.manual_seed(0)
    images = torch.rand(64, 3, 8, 4)
    out = ChannelPermute(p=1.0)(images)
    orders = set()
    for o, i in zip(out, images):
        order = tuple(next(k for k in range(3) if torch.equal(o[c], i[k])) for c in range(3))
        assert sorted(order) == [0, 1, 2]
        orders.add(order)
    assert len(orders) == 6  # every permutation occurs (identity included)
    grey = images[:, :1].expand(-1, 3, -1, -1)
    assert torch.equal(ChannelPermute(p=1.0)(grey), grey)
    assert torch.equal(ChannelPermute(p=0.0)(images), images)
    with pytest.raises(ValueError, match=r"got \(2, 4, 4\)"):
        ChannelPermute()(torch.rand(2, 4, 4))


def test_grey_erasing_fills_one_rectangle_with_shared_noise():
    torch.manual_seed(0)
    image = torch.rand(3, 32, 16)
    out = GreyErasing(p=1.0)(image)
    erased = (out != image).any(0)  # (H, W)
    rows, cols = erased.any(1).nonzero().flatten(), erased.any(0).nonzero().flatten()
    assert erased.sum() > 0
    box = out[:, rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    assert is_grey(box)  # the same noise in the three channels
    assert torch.equal(GreyErasing(p=0.0)(image), image)


def test_the_default_config_is_the_baseline_pipeline_for_every_modality():
    data = DataConfig(img_size=SIZE)
    baseline = train_transform(SIZE, grayscale=data.grayscale)  # chapter 4's pipeline
    for modality, transform in train_transforms(data).items():
        assert repr(transform) == repr(baseline), modality
        torch.manual_seed(7)
        got = torch.stack([transform(colour_image(s)) for s in range(8)])
        torch.manual_seed(7)
        expected = torch.stack([baseline(colour_image(s)) for s in range(8)])
        assert torch.equal(got, expected), modality


@pytest.mark.parametrize(
    "augment, words",
    [
        ({"visible": ["flip", "trivial"]}, r"data\.augment\.visible\[1\]: 'trivial' is not one of"),
        ({"infrared": ["flip", "flip"]}, r"data\.augment\.infrared: 'flip' is listed twice"),
        ({"channel": 2.0}, r"data\.augment\.channel: must be <= 1"),
        ({"thermal": []}, r"data\.augment\.thermal: unknown key"),
    ],
)
def test_bad_augment_settings_name_the_key(augment, words):
    with pytest.raises((TypeError, ValueError), match=words):
        config_from_dict({"data": {"augment": augment}})


def test_unknown_names_list_the_allowed_ones():
    with pytest.raises(ValueError, match="trivial_augment") as error:
        config_from_dict({"data": {"augment": {"visible": ["ta"]}}})
    assert "channel_select" in str(error.value)


@pytest.fixture(scope="module")
def colour_records() -> list[Record]:
    """The same colour image recorded once as visible and once as infrared."""
    register_reader("augtest", lambda address: colour_image(int(address.split("/")[-1])))
    return [Record("augtest://img/3", 0, 1, "visible"), Record("augtest://img/3", 0, 3, "infrared")]


def test_the_config_decides_which_modality_gets_which_augmentation(colour_records):
    config = config_from_dict(
        {
            "data": {
                "img_size": list(SIZE),
                "grayscale": 1.0,
                "augment": {"visible": ["grayscale"], "infrared": []},
            }
        }
    )
    dataset = RecordDataset(colour_records, train_transforms(config.data))
    visible, infrared = dataset[0][0], dataset[1][0]
    assert is_grey(unnormalise(visible), atol=1e-5)  # greyscale always, on visible only
    plain = transforms.test_transform(SIZE)(read_image(colour_records[1].path))
    assert torch.equal(infrared, plain)  # no augmentation for infrared
    swapped = config_from_dict(
        {
            "data": {
                "img_size": list(SIZE),
                "grayscale": 1.0,
                "augment": {"visible": [], "infrared": ["grayscale"]},
            }
        }
    )
    dataset = RecordDataset(colour_records, train_transforms(swapped.data))
    assert not is_grey(unnormalise(dataset[0][0]), atol=1e-3)
    assert is_grey(unnormalise(dataset[1][0]), atol=1e-5)


def test_a_transform_mapping_must_cover_the_records_modalities(colour_records):
    with pytest.raises(ValueError, match="no transform for modality 'infrared'"):
        RecordDataset(colour_records, {"visible": transforms.test_transform(SIZE)})


# ---- the batched uint8 path ----------------------------------------------------------------
def test_the_cache_holds_each_resized_image_once(colour_records):
    cache = build_image_cache(colour_records, SIZE)
    assert cache.dtype == torch.uint8 and cache.shape == (2, 3, *SIZE)
    expected = T.PILToTensor()(T.Resize(SIZE)(read_image(colour_records[0].path)))
    assert torch.equal(cache[0], expected)
    dataset = CachedRecordDataset(colour_records, cache)
    batch = Collate()([dataset[0], dataset[1]])
    assert batch.images.dtype == torch.uint8 and batch.modalities.tolist() == [0, 1]
    with pytest.raises(ValueError, match=r"expected uint8 \(2, 3, H, W\)"):
        CachedRecordDataset(colour_records, cache.float())


def _augment(names, **kwargs):
    return BatchAugment({"visible": names, "infrared": names}, SIZE, **kwargs)


def test_batched_crop_gives_each_image_its_own_shift():
    torch.manual_seed(0)
    image = T.PILToTensor()(colour_image())  # (3, H, W) uint8
    images = image.expand(16, -1, -1, -1).contiguous()
    out = _augment(["crop"], pad=2)(images, torch.zeros(16, dtype=torch.long))
    padded = torch.nn.functional.pad(image.float() / 255, (2, 2, 2, 2))
    shifts = set()
    for o in unnormalise(out):
        found = [
            (dy, dx)
            for dy in range(5)
            for dx in range(5)
            if torch.allclose(o, padded[:, dy : dy + SIZE[0], dx : dx + SIZE[1]], atol=1e-5)
        ]
        assert len(found) == 1
        shifts.add(found[0])
    assert len(shifts) > 4


def test_batched_trivial_augment_draws_one_op_per_image_and_keeps_infrared_grey():
    torch.manual_seed(0)
    grey = T.PILToTensor()(grey_image()).expand(32, -1, -1, -1).contiguous()
    names = ["flip", "crop", "trivial_augment", "grayscale", "channel_select", "grey_erasing"]
    out = _augment(names, grayscale=0.5)(grey, torch.ones(32, dtype=torch.long))
    assert out.dtype == torch.float32 and out.shape == (32, 3, *SIZE)
    assert is_grey(unnormalise(out), atol=1e-5)
    distinct = {tuple(o.flatten()[:64].tolist()) for o in out}
    assert len(distinct) > 16  # per-image draws, not one op for the whole batch


def test_batched_path_applies_each_modalitys_list():
    images = T.PILToTensor()(colour_image()).expand(4, -1, -1, -1).contiguous()
    modalities = torch.tensor([0, 1, 0, 1])
    augment = BatchAugment({"visible": ["grayscale"], "infrared": []}, SIZE, grayscale=1.0)
    out = unnormalise(augment(images, modalities))
    plain = images[0].float() / 255
    assert is_grey(out[0], atol=1e-5) and is_grey(out[2], atol=1e-5)
    assert torch.allclose(out[1], plain, atol=1e-5) and torch.allclose(out[3], plain, atol=1e-5)
    with pytest.raises(ValueError, match="no augmentations for modality 'xray'"):
        augment(images, torch.tensor([0, 2, 0, 1]))


def test_device_augment_is_chosen_by_the_config_and_the_device(colour_records):
    cpu = torch.device("cpu")
    dataset, transform = training_data(colour_records, DataConfig(img_size=SIZE), cpu)
    assert transform is None and not isinstance(dataset, CachedRecordDataset)
    on = DataConfig(img_size=SIZE, device_augment=True)
    dataset, transform = training_data(colour_records, on, cpu)
    assert isinstance(dataset, CachedRecordDataset)
    batch = transform(Collate()([dataset[0], dataset[1]]))
    assert batch.images.dtype == torch.float32 and batch.images.shape == (2, 3, *SIZE)


def test_a_run_trains_on_the_batched_path_on_cpu(tmp_path):
    from conftest import TINY_RUN

    from reidkit.train.run import train
    from reidkit.typed import merge

    changes = {"epochs": 1, "out_dir": str(tmp_path), "data.device_augment": True}
    trainer, log = train(config_from_dict(merge(TINY_RUN, changes)), progress=False)
    assert trainer.batch_transform is not None
    losses = [r["loss"] for r in log if r["kind"] == "train"]
    assert losses and all(np.isfinite(losses))
    assert any(r["kind"] == "eval" for r in log)
