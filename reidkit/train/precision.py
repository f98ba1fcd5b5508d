"""Mixed precision, chosen once for training and evaluation alike.

bf16 where the hardware computes in it (Ampere and later GPUs; CPUs with AMX or AVX-512 BF16
matrix units, where it about halves a ViT step), fp16 with a grad scaler on older GPUs, full
precision elsewhere. Losses and retrieval features are computed in float32 whatever the
autocast.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices in hardware (AMX tiles or AVX-512 BF16), where
    bf16 autocast roughly halves a ViT step; elsewhere it would only emulate bf16, slowly."""
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def full_precision(outputs: dict[str, Any]) -> dict[str, Any]:
    """``outputs`` with its low-precision floating tensors (autocast's bf16 / fp16) as float32."""
    return {
        key: value.float()
        if isinstance(value, torch.Tensor) and value.dtype in (torch.bfloat16, torch.float16)
        else value
        for key, value in outputs.items()
    }


def autocast_settings(device: torch.device, enabled: bool) -> tuple[torch.dtype | None, bool]:
    """(autocast dtype or None, whether a grad scaler is needed): bf16 on GPUs that compute in
    it (compute capability 8.0 on, Ampere and later), else fp16 with a scaler; on a CPU, bf16
    where it has bf16 matrix units (:func:`cpu_has_native_bf16`), else full precision.

    A T4 (7.5) reports ``torch.cuda.is_bf16_supported()`` as True but only emulates bf16,
    slowly: the capability decides, not that flag."""
    if not enabled:
        return None, False
    if device.type == "cpu":
        return (torch.bfloat16 if cpu_has_native_bf16() else None), False
    if device.type != "cuda":
        return None, False
    major, _ = torch.cuda.get_device_capability(device)
    if major >= 8 and torch.cuda.is_bf16_supported():
        return torch.bfloat16, False
    return torch.float16, True


def autocast_context(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """``torch.autocast`` with :func:`autocast_settings`'s dtype, or a no-op context."""
    dtype, _ = autocast_settings(device, enabled)
    return (
        torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()
    )
