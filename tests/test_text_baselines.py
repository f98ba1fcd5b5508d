"""The untrained text-to-image baselines: chance in closed form, random features, and the bag of
attributes (caption colours against colours measured in the pixels)."""

import itertools
import math

import numpy as np
import pytest
import torch
from PIL import Image

from reidkit.data.pedes import CUHKPEDES
from reidkit.data.records import Record
from reidkit.data.synth import write_layout
from reidkit.data.synth.attributes import COLOURS, make_identity
from reidkit.data.synth.people import image_captions
from reidkit.data.synth.render import SynthSettings
from reidkit.eval import evaluate_protocol
from reidkit.eval.text_baselines import (
    PALETTE,
    bag_of_attributes_extractor,
    caption_attributes,
    chance_metrics,
    chance_query,
    garment_colours,
    image_attributes,
    random_extractor,
    text_raw_baselines,
)


@pytest.fixture(scope="module")
def pedes(tmp_path_factory):
    """104 synthetic ids in the CUHK-PEDES layout: a test split of 8 ids, 56 images, 112
    captions (64x32 images; under a second to write)."""
    root = write_layout("pedes", tmp_path_factory.mktemp("pedes"), 104, seed=0, profile="smoke")
    return CUHKPEDES(root)


@pytest.mark.parametrize(
    ("caption", "upper", "lower"),
    [
        ("A person wears a red t-shirt and blue trousers, walking away.", ("red",), ("blue",)),
        (
            "The pedestrian, seen from behind, is dressed in a white tee with blue stripes and "
            "brown short pants. On the feet are red ankle boots. They have short black hair.",
            ("white", "blue"),
            ("brown",),
        ),
        (
            "In a blue and red checkered jumper and a beige knee-length skirt, a tall person is "
            "walking past. They carry an orange crossbody bag.",
            ("blue", "red"),
            ("beige",),
        ),
        (
            "Someone has on a pink zip jacket with a blue print on the front and black slacks. "
            "On the head is a white baseball cap.",
            ("pink", "blue"),
            ("black",),
        ),
        (
            "A walker wears a green tank top and grey pants with yellow stripes.",
            ("green",),
            ("grey", "yellow"),
        ),
        ("A person, walking past, wears a coat and shorts. They carry a backpack.", (), ()),
    ],
)
def test_caption_parser_on_hand_written_captions(caption, upper, lower):
    assert garment_colours(caption) == {"upper": upper, "lower": lower}


def test_caption_parser_agrees_with_the_generator():
    settings = SynthSettings(seed=0, height=64, width=32)
    for pid in range(40):
        person = make_identity(0, pid)
        for caption in image_captions(settings, pid, cam=1, index=0):
            found = garment_colours(caption)
            assert found["upper"][0] == person.upper_colour, caption
            assert found["lower"][0] == person.lower_colour, caption


def test_caption_vector_marks_region_and_colour():
    vectors = caption_attributes(["a red tee with white stripes and blue pants", "no clothes"])
    assert vectors.shape == (2, 2, len(PALETTE))
    upper, lower = vectors[0]
    assert {PALETTE[i] for i in upper.nonzero().flatten()} == {"red", "white"}
    assert {PALETTE[i] for i in lower.nonzero().flatten()} == {"blue"}
    assert vectors[1].sum() == 0


def person_image(upper: str, lower: str, height: int = 64, width: int = 32) -> np.ndarray:
    """A green background with a full-width 'person': ``upper`` from 30 % to 58 % of the
    height, ``lower`` from 58 % to 90 %. (H, W, 3) uint8."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:] = COLOURS["green"]
    image[round(0.30 * height) : round(0.58 * height)] = COLOURS[upper]
    image[round(0.58 * height) : round(0.90 * height)] = COLOURS[lower]
    return image


def as_batch(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).float() / 255  # (1, 3, H, W)


def test_image_colours_of_a_hand_made_image():
    shares = image_attributes(as_batch(person_image("red", "blue")))  # (1, 2, C)
    assert shares.shape == (1, 2, len(PALETTE))
    assert torch.allclose(shares.sum(-1), torch.ones(1, 2))
    assert shares[0, 0, PALETTE.index("red")] > 0.95
    assert shares[0, 1, PALETTE.index("blue")] > 0.95
    # Dimmer light (x 0.8) and a hard vote (small sigma): still red over blue.
    dim = image_attributes(0.8 * as_batch(person_image("red", "blue")), sigma=0.02)
    assert PALETTE[dim[0, 0].argmax()] == "red" and PALETTE[dim[0, 1].argmax()] == "blue"
    # Red and white stripes, one row each: half of each.
    striped = person_image("red", "black")
    striped[round(0.30 * 64) : round(0.58 * 64) : 2] = COLOURS["white"]
    halves = image_attributes(as_batch(striped), sigma=0.02)[0, 0]
    assert halves[PALETTE.index("red")].item() == pytest.approx(0.5, abs=0.1)
    assert halves[PALETTE.index("white")].item() == pytest.approx(0.5, abs=0.1)


def test_bag_of_attributes_scores_count_matching_colours(tmp_path):
    path = tmp_path / "person.png"
    Image.fromarray(person_image("red", "blue")).save(path)
    image = Record(str(path), 1, 0, "visible")
    captions = [
        Record(str(path), 1, 0, "text", "A person wears a red shirt and blue trousers."),
        Record(str(path), 1, 0, "text", "A person wears a red shirt and yellow trousers."),
        Record(str(path), 1, 0, "text", "A person wears a green shirt and yellow trousers."),
    ]
    features = bag_of_attributes_extractor(img_size=(64, 32))([image, *captions])
    assert features[0].norm().item() == pytest.approx(math.sqrt(2), abs=1e-5)
    scores = features[1:] @ features[0]  # both colours, one of the two, none
    assert scores.tolist() == pytest.approx([2.0, 1.0, 0.0], abs=0.05)


def test_chance_formulas_match_every_ranking():
    # G = 6 gallery items, m = 2 of them match: average over all C(6, 2) = 15 placements of
    # the matches (a uniformly random ranking puts them in each with the same probability).
    g, m = 6, 2
    totals = dict.fromkeys(["R1", "R2", "R3", "mAP", "mINP"], 0.0)
    placements = list(itertools.combinations(range(1, g + 1), m))  # ranks of the matches
    for ranks in placements:
        for k in (1, 2, 3):
            totals[f"R{k}"] += float(min(ranks) <= k)
        totals["mAP"] += sum((i + 1) / rank for i, rank in enumerate(ranks)) / m
        totals["mINP"] += m / max(ranks)
    expected = {key: value / len(placements) for key, value in totals.items()}
    assert chance_query(m, g, ks=(1, 2, 3)) == pytest.approx(expected, abs=1e-9)
    # One match among 4: R1 = 1/4, and AP = INP = E[1/rank] = (1 + 1/2 + 1/3 + 1/4) / 4.
    one = chance_query(1, 4, ks=(1, 4))
    assert one == pytest.approx({"R1": 0.25, "R4": 1.0, "mAP": 25 / 48, "mINP": 25 / 48})


def test_chance_r1_is_the_mean_share_of_matching_images():
    gallery = [Record(f"g{i}", pid, 0, "visible") for i, pid in enumerate([0, 0, 0, 1, 2])]
    queries = [Record("q", pid, 0, "text", "c") for pid in [0, 1, 1, 3]]  # pid 3: no match
    # (3/5 + 1/5 + 1/5) / 3 queries with a match
    assert chance_metrics(queries, gallery)["R1"] == pytest.approx(1 / 3)


def test_random_features_are_at_chance(pedes):
    chance = chance_metrics(pedes.query(), pedes.gallery())
    results = [evaluate_protocol(random_extractor(seed=s), pedes) for s in range(20)]
    # Over 200 seeds on this split one seed's R1 has sd 0.028 and its mAP sd 0.007, so the
    # mean of 20 seeds has sd 0.0063 and 0.0016: the bounds below are about 5 sd.
    assert np.mean([r["R1"] for r in results]) == pytest.approx(chance["R1"], abs=0.03)
    assert np.mean([r["mAP"] for r in results]) == pytest.approx(chance["mAP"], abs=0.01)
    # The features are a function of (seed, record): the same again, another seed differs.
    records = pedes.gallery()[:3]
    assert torch.equal(
        random_extractor(seed=1)(records), random_extractor(seed=1)(records[::-1]).flip(0)
    )
    assert not torch.equal(random_extractor(seed=1)(records), random_extractor(seed=2)(records))


def test_bag_of_attributes_beats_random(pedes):
    results = text_raw_baselines(pedes)
    assert set(results) == {"chance", "random", "bag_of_attributes"}
    for result in results.values():
        assert {"R1", "R5", "R10", "mAP", "mINP"} <= set(result)
    chance, bag = results["chance"], results["bag_of_attributes"]
    assert chance["R1"] < 0.15 and chance["mAP"] < 0.2  # 8 ids, about 7 images each
    assert bag["R1"] > 0.8 and bag["mAP"] > 0.6
    assert results["random"]["R1"] < 0.3


def test_random_features_do_not_depend_on_where_the_data_lies():
    from reidkit.data.records import Record
    from reidkit.eval.text_baselines import random_extractor

    here = Record("/tmp/a/imgs/synth/00001_c1_01.jpg", 0, 0, "visible")
    there = Record("/home/b/cache/imgs/synth/00001_c1_01.jpg", 0, 0, "visible")
    other = Record("/tmp/a/imgs/synth/00001_c1_02.jpg", 0, 0, "visible")
    features = random_extractor(dim=8, seed=3)([here, there, other])
    assert torch.equal(features[0], features[1]) and not torch.equal(features[0], features[2])
