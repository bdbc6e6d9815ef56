"""Speed settings that change how a model runs, not what it computes (or barely).

- channels-last weights (``kdmeta_lib.support.runtime.cpu_friendly``): the same numbers, faster
  convolutions and pooling on a CPU;
- bfloat16 autocast: faster on CPUs with bfloat16 units (avx512_bf16, AMX) and on GPUs, but
  the numbers change, so every benchmark keeps it opt-in and reports it.

What each setting bought on the reference machine is written up in ``benchmarks/README.md``
("Engineering notes"); ``profiling.profile`` re-measures it in every accuracy run.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch
from torch import Tensor, nn

from kdmeta_lib.support.runtime import cpu_friendly


def cpu_has_bfloat16(device: torch.device) -> bool:
    """True on a CPU with bfloat16 arithmetic units (avx512_bf16 or AMX), where it pays."""
    if device.type != "cpu":
        return False
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = cpuinfo.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def bfloat16_autocast(device_type: str, enabled: bool = True) -> AbstractContextManager:
    """``torch.autocast`` to bfloat16 on ``device_type`` (``"cpu"``/``"cuda"``), or a no-op."""
    return torch.autocast(device_type, dtype=torch.bfloat16) if enabled else nullcontext()


class Bfloat16Backbone(nn.Module):
    """A backbone whose convolutions run in bfloat16 (autocast), returning float32 embeddings.

    On CPUs with bfloat16 units (avx512_bf16 / AMX) the convolutions run about 1.4-2x faster;
    the prototypes and distances are still computed in float32 from the returned embeddings.
    Used for ProtoNet only: MAML's second-order inner loop stays in float32.
    """

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, x: Tensor) -> Tensor:
        with bfloat16_autocast(x.device.type):
            embeddings = self.backbone(x)
        return embeddings.float()


def with_speed_settings(model: nn.Module, device: torch.device, *, channels_last: bool,
                        bfloat16: bool = False) -> nn.Module:
    """``model`` on ``device``, channels-last when asked, wrapped in bfloat16 when asked.

    Only the weights need converting to channels-last: a one-channel image batch
    ``[B, 1, 28, 28]`` is already channels-last in memory, and the convolutions then keep that
    layout from layer to layer.
    """
    model = cpu_friendly(model, device) if channels_last else model.to(device)
    return Bfloat16Backbone(model) if bfloat16 else model


def keep_freed_memory() -> bool:
    """Ask glibc's allocator to keep freed memory for reuse instead of returning it at once.

    Every training step frees and re-allocates the same large activation buffers. By default
    glibc gives the top of its heap back to the system whenever more than 128 KiB is free
    there, and takes it again on the next step (page faults, system time). Raising the trim
    threshold and the top pad keeps those pages: the same numbers, fewer system calls
    (ProtoNet's step on 2 cores: about 320 → 200 ms; ``benchmarks/README.md``). The process
    may hold up to about 1 GB more than it needs. Returns False where libc has no ``mallopt``
    (not glibc).
    """
    import ctypes  # noqa: PLC0415 (only this setting needs it)

    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_top_pad = -1, -2  # from glibc's malloc.h
    return bool(mallopt(m_trim_threshold, 2**31 - 1)) and bool(mallopt(m_top_pad, 2**30))
