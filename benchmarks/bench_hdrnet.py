"""HDRNet inference speed: full forward at 1080p and 4K, and the bilateral slice op alone vs its loop reference.

    python benchmarks/bench_hdrnet.py            # paper model at 1920×1080 and 3840×2160, CPU (+ CUDA when present)
    python benchmarks/bench_hdrnet.py --quick    # small sizes, a smoke run (well under a minute on a laptop CPU)
    python benchmarks/bench_hdrnet.py --devices cpu --repeats 5 --threads 2

Table 1 (full forward, batch 1, ``torch.no_grad()``, median of ``--repeats`` after one warm-up pass):
    forward   ``model(image)``: one pass over full-size tensors, slicing with 3-D ``grid_sample``;
    process   ``model.process(image)``: the same maths band by band, slicing with two 2-D samples (CPU path);
    fp32 is the default; bf16 is opt-in autocast (bfloat16 convolutions; the slice stays float32 where
    PyTorch's autocast keeps grid_sample in float32). Δ is the largest |difference| from the fp32 forward output.
Table 2 (slice op alone, 12 coefficient channels, 16×16×8 grid): ``bilateral_slice`` (3-D grid_sample),
``bilateral_slice_stacked`` (2-D samples) and the pure-Python loop reference, which is timed on a small
image only; every time is also given per megapixel so the rows compare.
Random weights and images: speed does not depend on what the model learned.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from hdredu.models.hdrnet import HDRNet, HDRNetConfig
from hdredu.ops.bilateral import bilateral_slice, bilateral_slice_reference, bilateral_slice_stacked

FULL_SIZES = {"1080p": (1080, 1920), "4K": (2160, 3840)}
QUICK_SIZES = {"270p": (270, 480), "540p": (540, 960)}


def timed(fn, device: str, repeats: int) -> tuple[float, object]:
    """Median wall time of ``fn()`` in seconds over ``repeats`` runs after one warm-up; and the last result."""
    result = fn()  # warm-up
    times = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        began = time.perf_counter()
        result = fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


def run_model(model: HDRNet, image: torch.Tensor, mode: str, precision: str) -> torch.Tensor:
    """One inference pass: mode "forward" or "process", precision "fp32" or "bf16" (autocast)."""
    call = model if mode == "forward" else model.process
    with torch.no_grad():
        if precision == "fp32":
            return call(image)
        with torch.autocast(device_type=image.device.type, dtype=torch.bfloat16):
            return call(image).float()


def forward_table(devices: list[str], sizes: dict, repeats: int) -> None:
    print("\nTable 1 · HDRNet paper preset (482,081 parameters, pointwise guide), full forward, batch 1")
    print(f"{'device':<8}{'size':<8}{'MP':>6}  {'mode':<9}{'precision':<10}{'time [ms]':>11}{'ms / MP':>10}{'Δ vs fp32':>11}")
    for device in devices:
        torch.manual_seed(0)
        model = HDRNet(HDRNetConfig.paper()).to(device).eval()
        for name, (height, width) in sizes.items():
            image = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(1)).to(device)
            megapixels = height * width / 1e6
            reference = None
            for mode in ("forward", "process"):
                for precision in ("fp32", "bf16"):
                    try:
                        seconds, out = timed(lambda: run_model(model, image, mode, precision), device, repeats)  # noqa: F821
                    except RuntimeError as error:  # e.g. an op without a bf16 kernel on this device
                        print(f"{device:<8}{name:<8}{megapixels:>6.2f}  {mode:<9}{precision:<10}  n/a: {str(error)[:60]}")
                        continue
                    reference = out if reference is None else reference
                    delta = float((out - reference).abs().max())
                    print(
                        f"{device:<8}{name:<8}{megapixels:>6.2f}  {mode:<9}{precision:<10}"
                        f"{1e3 * seconds:>11.1f}{1e3 * seconds / megapixels:>10.1f}{delta:>11.2e}"
                    )
            del image, reference


def slice_table(devices: list[str], sizes: dict, loop_size: tuple[int, int], repeats: int) -> None:
    print("\nTable 2 · bilateral slice alone: grid (1, 12, 8, 16, 16), random guide")
    print(f"{'device':<8}{'size':<10}{'MP':>7}  {'implementation':<28}{'time [ms]':>11}{'ms / MP':>10}{'max |Δ|':>10}")
    generator = torch.Generator().manual_seed(2)
    grid = torch.randn(1, 12, 8, 16, 16, generator=generator)
    rows = dict(sizes)
    rows["loop size"] = loop_size
    for device in devices:
        device_grid = grid.to(device)
        for name, (height, width) in rows.items():
            guide = torch.rand(1, 1, height, width, generator=generator).to(device)
            megapixels = height * width / 1e6
            implementations = {
                "grid_sample 3-D": lambda: bilateral_slice(device_grid, guide),
                "stacked 2-D grid_sample": lambda: bilateral_slice_stacked(device_grid, guide),
            }
            if name == "loop size":
                implementations["loop reference (Python)"] = lambda: bilateral_slice_reference(device_grid, guide)
            reference = None
            for label, fn in implementations.items():
                seconds, out = timed(fn, device, 1 if "loop" in label else repeats)
                out = out.to(device).float()
                reference = out if reference is None else reference
                delta = float((out - reference).abs().max())
                print(
                    f"{device:<8}{name:<10}{megapixels:>7.3f}  {label:<28}{1e3 * seconds:>11.2f}"
                    f"{1e3 * seconds / megapixels:>10.1f}{delta:>10.1e}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--devices", nargs="+", default=None, help="default: cpu, plus cuda when available")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per row (default 3, quick 2)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    repeats = args.repeats or (2 if args.quick else 3)
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    loop_size = (24, 32) if args.quick else (48, 64)
    print(f"torch {torch.__version__} · CPU threads {torch.get_num_threads()} · devices {devices}"
          + (f" · {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""))
    forward_table(devices, sizes, repeats)
    slice_table(devices, sizes, loop_size, repeats)


if __name__ == "__main__":
    main()
