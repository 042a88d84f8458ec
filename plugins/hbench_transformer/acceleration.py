"""How the training step runs fast: bf16 mixed precision where it pays, dropout masks from
fewer random draws on a CPU, `torch.compile` on request.

Both are choices of arithmetic, never of the model: the weights, the optimiser state and the
checkpoints stay fp32, and predictions are computed in fp32 (a KL of a few thousandths of a
bit is a metric here, and bf16 logits carry about three significant digits).

Measured on a 2-core AMD EPYC with AVX512-BF16 (benchmarks/README.md, "Transformer training
throughput"): bf16 autocast trains the paper's width (d_model 128, d_ff 2048) about 2.5x faster
than fp32, but the cpu preset's (d_model 32, d_ff 128) about 2x *slower*: at that size a step
is dominated by per-operator overhead and the casts autocast adds, not by matmul arithmetic.
The crossover lies near d_model * d_ff = 2^14 (d_model 64, d_ff 256: 1.07x), hence the rule
of `choose_precision`. `torch.compile` (inductor) was slower than eager at both sizes on this
CPU, so it stays off unless asked for.
"""

from __future__ import annotations

import contextlib
import functools
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

#: Dropout draws its mask as 16-bit uniform integers: an element is dropped when its integer
#: is below ``round(p * DROPOUT_LEVELS)``, so the drop probability is p to within 2^-17.
DROPOUT_LEVELS = 1 << 16

#: ``auto`` picks bf16 from this feed-forward matmul size (d_model * d_ff) up, where it was
#: measured to pay (1.34x at 128 x 512, 2.5x at 128 x 2048; 0.5x at the cpu preset's 32 x 128).
BF16_MIN_WIDTH = 1 << 15


@functools.cache
def _cpu_flags() -> frozenset[str]:
    """The CPU's feature flags: torch's own view where this torch has it, else /proc/cpuinfo."""
    capabilities = getattr(torch.cpu, "get_capabilities", None)
    if capabilities is not None:
        with contextlib.suppress(Exception):
            return frozenset(name for name, value in capabilities().items() if value is True)
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` multiplies bf16 in hardware (else bf16 is emulated, and slower)."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        flags = _cpu_flags()
        return bool({"avx512_bf16", "amx_bf16"} & flags)
    return False


def choose_precision(requested: str, shape: dict, device: torch.device) -> str:
    """``fp32`` or ``bf16``: what the training step computes in.

    ``auto`` is bf16 only where it was measured to be faster: a device with native bf16 and a
    model whose feed-forward matmul is at least `BF16_MIN_WIDTH`. An explicit ``bf16`` is
    honoured wherever autocast can run it (emulated on a CPU without native support), and
    falls back to fp32 with a warning on a GPU that has no bf16 at all."""
    if requested == "fp32":
        return "fp32"
    native = native_bf16(device)
    if requested == "auto":
        wide = shape["d_model"] * shape["d_ff"] >= BF16_MIN_WIDTH
        return "bf16" if native and wide else "fp32"
    if device.type == "cuda" and not native:
        warnings.warn("precision=bf16: this GPU has no bf16; training in fp32", stacklevel=2)
        return "fp32"
    return "bf16"


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast for ``precision == "bf16"``; a no-op otherwise."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


class CompiledStep:
    """The network's forward through `torch.compile`, falling back to eager once if compiling
    fails (no C++ compiler, an unsupported platform or operator): a speed option must never
    end a fit. The compiled module shares the network's parameters, so the optimiser and the
    checkpoints see the same tensors. Inductor's compile workers are limited to one process:
    the harness bounds the threads of a fit, and compiling must not start more."""

    def __init__(self, net: torch.nn.Module, enabled: bool) -> None:
        self.net = net
        self.forward: Callable[[torch.Tensor], torch.Tensor] = net
        self.pending = enabled
        self.compiled = False
        self.failure: str | None = None
        self.compile_s: float | None = None  # the first step, compiling included

    def __call__(self, run_step: Callable[..., torch.Tensor], *args: torch.Tensor) -> torch.Tensor:
        """``run_step(forward, *args)``: one forward and backward with the current forward."""
        if not self.pending:
            if not self.compiled:
                return run_step(self.forward, *args)
            with _one_compile_worker():  # a new batch shape or mode may recompile
                return run_step(self.forward, *args)
        self.pending = False
        began = time.perf_counter()
        try:
            compiled = torch.compile(self.net)
            with _one_compile_worker():
                loss = run_step(compiled, *args)
        except Exception as exc:  # compiling failed: train eagerly
            self.failure = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            message = f"compile=true: torch.compile failed ({self.failure}); training eagerly"
            warnings.warn(message, stacklevel=2)
            for parameter in self.net.parameters():
                parameter.grad = None
            return run_step(self.forward, *args)
        self.forward, self.compiled = compiled, True
        self.compile_s = time.perf_counter() - began
        return loss


@contextlib.contextmanager
def _one_compile_worker():
    try:
        from torch._inductor import config
    except ImportError:  # pragma: no cover - a torch without inductor
        yield
        return
    with config.patch(compile_threads=1):
        yield


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """`F.dropout` with its random mask four times cheaper on a CPU.

    On a CPU, torch draws one 32-bit number from its Mersenne Twister per element for a
    dropout mask (`bernoulli_`), and those draws were a fifth of a bf16 training step at the
    paper's width. Here each 64-bit draw gives four 16-bit uniform integers, compared with a
    threshold: the drop probability is ``round(p * 2^16) / 2^16`` (p = 0.1: 0.100006), and
    kept elements are scaled by the exact inverse keep probability, so the expectation of the
    output is the input, as with `F.dropout`. Seeded by torch's generator like `F.dropout`.
    Elsewhere (a GPU's Philox generator is cheap) and in eval mode, it is `F.dropout`."""
    if not training or p == 0.0 or x.device.type != "cpu":
        return torch.nn.functional.dropout(x, p, training)
    if p >= 1.0:
        return x * 0.0
    dropped = round(p * DROPOUT_LEVELS)
    n = x.numel()
    draws = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-(1 << 63), None)
    uniform = draws.view(torch.int16)[:n].view(x.shape)  # four per draw, in [-2^15, 2^15)
    keep = (uniform >= dropped - DROPOUT_LEVELS // 2).to(x.dtype)  # exact 0 or 1
    return (x * keep).mul_(DROPOUT_LEVELS / (DROPOUT_LEVELS - dropped))


class Dropout(torch.nn.Module):
    """`nn.Dropout` computed by `dropout`."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
