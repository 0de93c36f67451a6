"""AHDRNet inference: forward time and peak memory, whole image vs overlapping tiles, fp32 vs bf16 + channels_last.

    python benchmarks/bench_ahdrnet.py            # paper model, 256×256 and 1000×1500, CPU (+ CUDA when present)
    python benchmarks/bench_ahdrnet.py --quick    # small sizes, a smoke run (~1 min on a laptop CPU)
    python benchmarks/bench_ahdrnet.py --preset tiny --devices cpu --repeats 5

For every device × image size × precision × tiling it prints the median forward time (``torch.no_grad()``,
batch 1, after one warm-up pass except for
1000×1500 on CPU, where a pass takes minutes), the peak memory of the forward pass, and the largest absolute difference
from the fp32 whole-image output (tiling with overlap ≥ the receptive radius is exact; bf16 is not).
Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` (tensors only); on CPU the growth of the process's
peak resident set size during the forward pass, measured in a fresh subprocess per configuration.
bf16 + channels_last is opt-in in hdredu (never the default); on CPUs without native bf16 it is often slower.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from hdredu.inference import predict
from hdredu.models import build_model

FULL_SIZES = [(256, 256), (1000, 1500)]
QUICK_SIZES = [(96, 96), (192, 256)]


def tile_for(height: int, width: int) -> int:
    """A tile side that splits the image into several tiles (512 for Kalantari-size images)."""
    return 512 if max(height, width) > 512 else max(32, min(height, width) // 2)


def run_forward(model, inputs, device, precision: str, tile: int | None) -> torch.Tensor:
    """One forward pass in the given precision ("fp32" or "bf16": autocast bf16 + channels_last weights)."""
    if precision == "fp32":
        return predict(model, inputs, tile=tile, device=device)
    with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16):
        return predict(model, inputs, tile=tile, device=device).float()


def make_model(preset: str, device: str, precision: str):
    torch.manual_seed(0)
    model = build_model("ahdrnet", preset).to(device).eval()
    if precision == "bf16":
        model = model.to(memory_format=torch.channels_last)
    return model


def measure(preset, device, size, precision, tiled, repeats):
    """Time and peak memory of one configuration: {"time_s", "peak_bytes", "out"}."""
    torch.manual_seed(1)
    height, width = size
    inputs = torch.rand(1, 3, 6, height, width)
    model = make_model(preset, device, precision)
    tile = tile_for(height, width) if tiled else None
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        # ru_maxrss only grows: read it before the first forward pass, whose peak is the one we want
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if device.startswith("cuda") or height * width <= 10**6:
        run_forward(model, inputs, device, precision, tile)  # warm-up (CPU: also the first peak); too slow on CPU at 1000×1500
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        out = run_forward(model, inputs, device, precision, tile)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - began)
    if device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    result = {"time_s": statistics.median(times), "peak_bytes": peak, "out": out.cpu()}
    return result


def measure_cpu_in_subprocess(preset, size, precision, tiled, repeats):
    """CPU peak memory needs a fresh process (ru_maxrss never goes down): run this script with ``--child``."""
    with tempfile.TemporaryDirectory() as folder:
        result_path = Path(folder) / "result.pt"
        job = json.dumps({"preset": preset, "size": list(size), "precision": precision, "tiled": tiled,
                          "repeats": repeats, "result_path": str(result_path)})
        subprocess.run([sys.executable, __file__, "--child", job], check=True)
        return torch.load(result_path, weights_only=True)


def child(job_json: str) -> None:
    """Measure one CPU configuration in this (fresh) process and save the result for the parent."""
    job = json.loads(job_json)
    result = measure(job["preset"], "cpu", tuple(job["size"]), job["precision"], job["tiled"], job["repeats"])
    torch.save(result, job["result_path"])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat (smoke run)")
    parser.add_argument("--preset", default="paper", choices=["paper", "tiny"])
    parser.add_argument("--devices", nargs="*", default=None, help="default: cpu, and cuda when available")
    parser.add_argument("--repeats", type=int, default=None, help="timed passes per configuration")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        return child(args.child)
    devices = args.devices or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    print(f"AHDRNet ({args.preset}) forward, batch 1, torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    header = f"{'device':7s} {'size':>10s} {'precision':>18s} {'tiling':>12s} {'time [s]':>9s} {'peak [MiB]':>11s} {'max |Δ| vs fp32':>16s}"
    print(header)
    print("-" * len(header))
    for device in devices:
        for size in sizes:
            # the large CPU image costs minutes per pass: time it once
            repeats = args.repeats or (1 if args.quick or (device == "cpu" and size[0] * size[1] > 10**6) else 3)
            reference = None
            for precision in ("fp32", "bf16"):
                for tiled in (False, True):
                    if device == "cpu":
                        result = measure_cpu_in_subprocess(args.preset, size, precision, tiled, repeats)
                    else:
                        result = measure(args.preset, device, size, precision, tiled, repeats)
                    reference = result["out"] if reference is None else reference
                    error = float((result["out"] - reference).abs().max())
                    tiling = f"tiles {tile_for(*size)}" if tiled else "whole"
                    label = "fp32" if precision == "fp32" else "bf16+channels_last"
                    print(f"{device:7s} {size[0]:>4d}x{size[1]:<5d} {label:>18s} {tiling:>12s} {result['time_s']:>9.3f} "
                          f"{result['peak_bytes'] / 2**20:>11.0f} {error:>16.2e}", flush=True)


if __name__ == "__main__":
    main()
