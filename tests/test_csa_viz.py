"""Figures of CSA's channel weights and spatial maps (reidkit.viz.csa)."""

import pytest
import torch

from reidkit.viz.csa import (
    channel_gap,
    channel_weights_by_modality,
    channel_weights_figure,
    spatial_maps_figure,
)


def test_channel_weights_by_modality_averages_each_modality():
    channel = torch.tensor([[0.2, 0.4], [0.6, 0.8], [0.1, 0.1], [0.3, 0.5]])
    modalities = torch.tensor([0, 0, 1, 1])  # visible, visible, infrared, infrared
    means = channel_weights_by_modality(channel, modalities)
    assert means["visible"].tolist() == pytest.approx([0.4, 0.6])
    assert means["infrared"].tolist() == pytest.approx([0.2, 0.3])
    assert channel_gap(means) == pytest.approx((0.2 + 0.3) / 2)
    only_visible = channel_weights_by_modality(channel[:2], modalities[:2])
    assert set(only_visible) == {"visible"}
    with pytest.raises(ValueError, match=r"modalities \(B,\)"):
        channel_weights_by_modality(channel, modalities[:3])


def test_channel_weights_figure_one_point_per_channel_per_stage():
    stages = {
        "before": {"visible": torch.full((5,), 0.5), "infrared": torch.full((5,), 0.5)},
        "after": {"visible": torch.linspace(0, 1, 5), "infrared": torch.linspace(1, 0, 5)},
    }
    fig = channel_weights_figure(stages)
    assert [len(trace.x) for trace in fig.data] == [5, 5]
    assert list(fig.data[1].y) == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.0])
    assert "gap 0.000" in fig.data[0].name and "gap 0.600" in fig.data[1].name
    with pytest.raises(ValueError, match="expected visible and infrared"):
        channel_weights_figure({"x": {"visible": torch.ones(3)}})
    with pytest.raises(ValueError, match=r"two \(C,\) weight vectors"):
        channel_weights_figure({"x": {"visible": torch.ones(3), "infrared": torch.ones(4)}})


def test_spatial_maps_figure_menu_shows_one_person_at_a_time():
    images = torch.rand(3, 2, 3, 32, 16)  # 3 people, visible + infrared
    maps = {"before": torch.rand(3, 2, 4, 2), "after": torch.rand(3, 2, 4, 2)}
    fig = spatial_maps_figure(images, maps, ["a", "b", "c"], ["visible", "infrared"])
    per_person = 2 * 2 * 2  # (image + heatmap) x stages x views
    assert len(fig.data) == 3 * per_person
    assert [t.visible for t in fig.data] == [k < per_person for k in range(3 * per_person)]
    buttons = fig.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == ["a", "b", "c"]
    second = buttons[1].args[0]["visible"]
    assert second == [per_person <= k < 2 * per_person for k in range(3 * per_person)]
    heat = fig.data[1]  # person a, before, visible
    assert torch.allclose(torch.tensor(heat.z), maps["before"][0, 0])
    assert heat.dx == 8 and heat.zmin == pytest.approx(
        float(torch.stack(list(maps.values())).min())
    )
    with pytest.raises(ValueError, match=r"images must be \(people=2, views=2"):
        spatial_maps_figure(images, maps, ["a", "b"], ["visible", "infrared"])
    with pytest.raises(ValueError, match="does not tile"):
        spatial_maps_figure(images, {"x": torch.rand(3, 2, 3, 2)}, list("abc"), ["v", "i"])


def test_same_person_pairs_and_csa_probe(tmp_path):
    from PIL import Image

    from reidkit.data.records import Record
    from reidkit.models.backbones import build_backbone
    from reidkit.models.baseline import CrossModalBaseline
    from reidkit.viz.csa import csa_probe, same_person_pairs

    records = []
    for pid, modalities in [
        (0, ["visible", "visible"]),
        (1, ["visible", "infrared"]),
        (2, ["infrared", "visible", "infrared"]),
    ]:
        for k, modality in enumerate(modalities):
            path = tmp_path / f"{pid}_{k}.png"
            Image.new("RGB", (16, 32), (40 * pid, 20 * k, 90)).save(path)
            records.append(Record(str(path), pid, 1 if modality == "visible" else 3, modality))
    pairs = same_person_pairs(records, 2)  # identity 0 has no infrared image
    assert [(v.path[-7:], i.path[-7:]) for v, i in pairs] == [
        ("1_0.png", "1_1.png"),
        ("2_1.png", "2_0.png"),
    ]
    with pytest.raises(ValueError, match="only 2 identities have both modalities, 3 wanted"):
        same_person_pairs(records, 3)
    torch.manual_seed(0)
    model = CrossModalBaseline(build_backbone("vit_nano", (32, 16)), 3, csa=True).train()
    chosen = [r for pair in pairs for r in pair]
    batch, maps = csa_probe(model, chosen, (32, 16))
    assert model.training  # the mode is restored
    assert batch.images.shape == (4, 3, 32, 16) and batch.modalities.tolist() == [0, 1, 0, 1]
    assert maps.channel.shape == (4, 64) and maps.spatial.shape == (4, 4, 2)
    expected = model.eval().csa_maps(batch.images, batch.modalities)
    assert torch.allclose(maps.spatial, expected.spatial, atol=1e-6)
