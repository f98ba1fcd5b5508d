"""What a profile's training run costs: FLOPs per step, steps, and a GPU time estimate.

Nothing here runs a model for real. The model is built on PyTorch's ``meta`` device (shapes,
no memory, no arithmetic) and ``torch.utils.flop_counter`` counts the matrix multiplications
and convolutions of one forward and backward pass; the steps come from the profile's P x K
sampler on the synthetic records (no image is rendered). A time estimate then divides the
FLOPs by a *stated* sustained rate and adds a per-step overhead: these are assumptions, not
measurements, and ``GPU_ASSUMPTIONS`` says which (``benchmarks/bench_cost.py`` prints them).

    training FLOPs per image ~ 3 x forward FLOPs  (backward: gradients of inputs and weights)
    time ~ steps x (FLOPs per step / sustained rate + overhead per step)
         + evaluations x (evaluation FLOPs / sustained rate) + rendering the data once
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from reidkit.profiles import Profile


@dataclass(frozen=True)
class GPUAssumption:
    """A GPU's assumed speed on this workload (small ViTs, batch 64, mixed precision)."""

    name: str
    peak_tflops: float  # dense fp16/bf16 tensor-core peak, from the vendor's data sheet
    sustained_tflops: float  # the rate assumed for training steps (a fraction of the peak)
    step_overhead_s: float  # optimizer, kernel launches, Python and the data hand-off per step


GPU_ASSUMPTIONS: dict[str, GPUAssumption] = {
    # T4: 65 TFLOP/s fp16 peak; it has no fast bf16, so training runs in fp16 with a scaler.
    "T4": GPUAssumption("T4", peak_tflops=65.0, sustained_tflops=15.0, step_overhead_s=0.030),
    "H100": GPUAssumption("H100", peak_tflops=989.0, sustained_tflops=150.0, step_overhead_s=0.010),
}
RENDER_IMAGES_PER_S = 300.0  # synthetic rendering on one CPU core (benchmarks/bench_synth.py)


def model_flops(model_factory, img_size: tuple[int, int], images: int = 2) -> tuple[float, float]:
    """(forward, forward + backward) FLOPs per image of the model ``model_factory()`` builds.

    The model is built and run on the meta device; the count is the mean over ``images``
    images of a batch (at least 2: a BatchNorm needs more than one value per channel)."""
    from torch.utils.flop_counter import FlopCounterMode

    from reidkit.models.vit import attention_path

    with torch.device("meta"):
        model = model_factory()
        images_meta = torch.randn(images, 3, *img_size)  # (B, 3, H, W)
    model.train()
    backbone = getattr(model, "backbone", model)
    with attention_path(backbone, fused=False), FlopCounterMode(display=False) as counter:
        out = model.forward_head(model.forward_features(images_meta))  # (B, classes)
        forward = counter.get_total_flops()
        out.float().sum().backward()
        total = counter.get_total_flops()
    return forward / images, total / images


def baseline_flops(backbone: str, img_size: tuple[int, int], num_classes: int):
    """``model_flops`` of chapter 4's baseline (BNNeck head) on the named backbone."""
    from reidkit.models.backbones import build_backbone
    from reidkit.models.baseline import CrossModalBaseline

    def factory() -> CrossModalBaseline:
        return CrossModalBaseline(build_backbone(backbone, img_size), num_classes)

    return model_flops(factory, img_size)


def training_seconds(
    steps: int, flops_per_step: float, sustained_tflops: float, step_overhead_s: float
) -> float:
    """``steps`` x (``flops_per_step`` at ``sustained_tflops`` + ``step_overhead_s``)."""
    return steps * (flops_per_step / (sustained_tflops * 1e12) + step_overhead_s)


@dataclass(frozen=True)
class RunCost:
    """The size of a profile's chapter-4 training run (the synthetic SYSU-MM01 layout)."""

    profile: str
    backbone: str
    img_size: tuple[int, int]
    train_ids: int
    train_images: int
    batch_size: int
    steps_per_epoch: int
    epochs: int
    evaluations: int  # validation runs (every eval_every epochs and after the last) + one test
    eval_images: int  # images embedded by one validation run (all images of the val ids)
    images_rendered: int  # every image of every split, rendered once into the data cache
    forward_flops: float  # per image
    train_flops: float  # per image, forward + backward

    @property
    def steps(self) -> int:
        return self.steps_per_epoch * self.epochs

    @property
    def train_flops_per_step(self) -> float:
        return self.train_flops * self.batch_size

    def seconds(self, gpu: GPUAssumption, rendered: bool = False) -> float:
        """Estimated wall time on ``gpu``; ``rendered``: the data cache already exists."""
        rate = gpu.sustained_tflops * 1e12
        train = training_seconds(
            self.steps, self.train_flops_per_step, gpu.sustained_tflops, gpu.step_overhead_s
        )
        evaluate = self.evaluations * self.eval_images * self.forward_flops / rate
        render = 0.0 if rendered else self.images_rendered / RENDER_IMAGES_PER_S
        return train + evaluate + render


def run_cost(profile: Profile, backbone: str | None = None) -> RunCost:
    """The cost of chapter 4's run in ``profile`` (``backbone``: the profile's by default)."""
    from reidkit.data.samplers import CrossModalIdentitySampler
    from reidkit.data.synth import SyntheticPeople

    backbone = backbone or profile.backbone
    people = SyntheticPeople(seed=0, profile=profile)
    n_val = round(profile.train_ids * 99 / 395)  # the SYSU-MM01 layout's train / val split
    train_pids = range(profile.train_ids - n_val)
    train = people.records(train_pids)
    sampler = CrossModalIdentitySampler(train, profile.ids_per_batch, profile.images_per_id)
    val = people.records(range(profile.train_ids - n_val, profile.train_ids))
    every = profile.eval_every
    evaluations = profile.epochs // every + (profile.epochs % every != 0) + 1
    forward, total = baseline_flops(backbone, profile.img_size, len(train_pids))
    return RunCost(
        profile=profile.name,
        backbone=backbone,
        img_size=tuple(profile.img_size),
        train_ids=len(train_pids),
        train_images=len(train),
        batch_size=sampler.batch_size,
        steps_per_epoch=len(sampler),
        epochs=profile.epochs,
        evaluations=evaluations,
        eval_images=len(val),
        images_rendered=len(people.train_records()) + len(people.test_records()),
        forward_flops=forward,
        train_flops=total,
    )


def cost_rows(costs: list[RunCost], gpus: dict[str, GPUAssumption] | None = None) -> list[dict]:
    """One table row per run: sizes, GFLOPs per image and per step, steps, estimated minutes
    per GPU (with the data rendered first, and with the cache already there)."""
    gpus = GPU_ASSUMPTIONS if gpus is None else gpus
    rows = []
    for cost in costs:
        row = {
            "profile": cost.profile,
            "backbone": cost.backbone,
            "image": f"{cost.img_size[0]}x{cost.img_size[1]}",
            "train ids / images": f"{cost.train_ids} / {cost.train_images}",
            "batch": cost.batch_size,
            "steps": f"{cost.steps_per_epoch} x {cost.epochs} = {cost.steps}",
            "GFLOP/image (fwd+bwd)": round(cost.train_flops / 1e9, 2),
            "TFLOP/step": round(cost.train_flops_per_step / 1e12, 3),
        }
        for name, gpu in gpus.items():
            first, again = cost.seconds(gpu) / 60, cost.seconds(gpu, rendered=True) / 60
            row[f"{name} min (first / cached)"] = f"{first:.1f} / {again:.1f}"
        rows.append(row)
    return rows


def assumptions_text(gpus: dict[str, GPUAssumption] | None = None) -> str:
    """The assumptions behind the estimates, one line each, to print beside them."""
    gpus = GPU_ASSUMPTIONS if gpus is None else gpus
    lines = [
        f"{g.name}: {g.sustained_tflops:g} TFLOP/s sustained "
        f"({g.sustained_tflops / g.peak_tflops:.0%} of the {g.peak_tflops:g} TFLOP/s fp16/bf16 "
        f"peak) + {g.step_overhead_s * 1e3:g} ms per step"
        for g in gpus.values()
    ]
    lines.append(
        f"data: rendered once at {RENDER_IMAGES_PER_S:g} images/s (one core), then read from the "
        "cache; loading assumed never to starve the GPU; evaluation = forward FLOPs of every "
        "validation image per evaluation (+1 test run). Estimates, not measurements."
    )
    return "\n".join(lines)


def classifier_cost(profile: Profile) -> dict[str, float]:
    """Chapter 3's short run in ``profile``: steps, batch, and FLOPs per image and per step of
    its plain ViT (``profile.vit`` with ``profile.classifier_ids`` classes)."""
    from reidkit.models.vit import create_vit

    def factory():
        return create_vit(
            profile.vit, img_size=profile.img_size, num_classes=profile.classifier_ids
        )

    _, total = model_flops(factory, profile.img_size)
    batch = profile.ids_per_batch * profile.images_per_id
    return {
        "steps": profile.classifier_steps,
        "batch": batch,
        "train_flops": total,
        "train_flops_per_step": total * batch,
    }
