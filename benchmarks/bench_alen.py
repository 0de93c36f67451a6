"""ALEN vs the SID U-Net: forward time and peak memory, and what the non-local block costs as the map grows.

    python benchmarks/bench_alen.py             # paper models at 512×512 packed, CPU (+ CUDA when present)
    python benchmarks/bench_alen.py --full      # also a full Sony frame (1424×2128 packed; minutes on a CPU)
    python benchmarks/bench_alen.py --quick     # small sizes, one repeat (a smoke run, well under a minute)
    python benchmarks/bench_alen.py --preset tiny --devices cpu --repeats 5

Part 1, for every device × image size × model: the median forward time (``torch.no_grad()``, batch 1, after
one warm-up pass except for the full frame on CPU) and the peak memory of the forward pass. Both models run
the whole image: ALEN's non-local attention sees all of it (``receptive_radius`` None), and SID is run the
same way for a like-for-like comparison (SID alone could be tiled; see hdredu.inference).
Part 2: one non-local block (256 channels, as ALEN's level 4, keys subsampled 2×2 and not) on square maps of
growing side: the peak memory predicted by ``hdredu.ops.nonlocal_.nonlocal_memory_bytes`` next to the measured
one, and the time; sizes whose prediction exceeds ``--max-gb`` are predicted only.
Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` (tensors only); on CPU, in part 1, the growth of the
process's peak resident set size during the forward pass, in a fresh subprocess per configuration; in part 2
the peak of live tensor bytes from the profiler's allocation events (what the formula counts).
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

from hdredu.models.alen import ALEN, ALENConfig
from hdredu.models.sid_unet import SIDUNet, SIDUNetConfig
from hdredu.ops.nonlocal_ import NonLocalBlock

SIZES = [(512, 512)]
FULL_SIZE = (1424, 2128)  # a Sony A7S II frame (2848 × 4256 sensor pixels), packed
QUICK_SIZES = [(128, 128)]
NONLOCAL_SIDES = [16, 32, 64, 89, 128, 178]  # 64 = level 4 of a 512² patch; 89 / 178 ≈ levels 5 / 4 of a Sony frame
QUICK_NONLOCAL_SIDES = [16, 32, 48]
MODELS = {"sid_unet": (SIDUNet, SIDUNetConfig), "alen": (ALEN, ALENConfig)}


def make_model(name: str, preset: str, device: str) -> torch.nn.Module:
    """The model ``name`` at ``preset`` on ``device``, eval mode, seeded."""
    torch.manual_seed(0)
    model_class, config_class = MODELS[name]
    return model_class(getattr(config_class, preset)()).to(device).eval()


def measure(name, preset, device, size, repeats):
    """Time and peak memory of one model forward on a packed (1, 4, H, W) input: {"time_s", "peak_bytes"}."""
    torch.manual_seed(1)
    inputs = torch.rand(1, 4, *size, device=device)
    model = make_model(name, preset, device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        # ru_maxrss only grows: read it before the first forward pass, whose peak is the one we want
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with torch.no_grad():
        if device.startswith("cuda") or size != FULL_SIZE:
            model(inputs)  # warm-up (CPU: also the first peak); skipped for the full frame on CPU (minutes)
        times = []
        for _ in range(repeats):
            began = time.perf_counter()
            model(inputs)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - began)
    if device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    return {"time_s": statistics.median(times), "peak_bytes": peak}


def measure_cpu_in_subprocess(name, preset, size, repeats):
    """CPU peak memory needs a fresh process (ru_maxrss never goes down): run this script with ``--child``."""
    with tempfile.TemporaryDirectory() as folder:
        result_path = Path(folder) / "result.json"
        job = json.dumps({"name": name, "preset": preset, "size": list(size), "repeats": repeats,
                          "result_path": str(result_path)})
        subprocess.run([sys.executable, __file__, "--child", job], check=True)
        return json.loads(result_path.read_text())


def child(job_json: str) -> None:
    """Measure one CPU configuration in this (fresh) process and write the result for the parent."""
    job = json.loads(job_json)
    result = measure(job["name"], job["preset"], "cpu", tuple(job["size"]), job["repeats"])
    Path(job["result_path"]).write_text(json.dumps(result))


def cpu_tensor_peak_bytes(fn) -> int:
    """Peak of live CPU tensor bytes while ``fn`` runs, from the profiler's allocation and free events."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    live = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        live += event.nbytes()
        peak = max(peak, live)
    return peak


def measure_nonlocal(device, side, subsample, channels=256):
    """Predicted and measured peak bytes and the time of one non-local block forward on a side × side map."""
    torch.manual_seed(0)
    block = NonLocalBlock(channels, subsample=subsample).to(device).eval()
    feat = torch.randn(1, channels, side, side, device=device)
    with torch.no_grad():
        block(feat)  # warm-up
        if device.startswith("cuda"):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            began = time.perf_counter()
            block(feat)
            torch.cuda.synchronize()
            elapsed = time.perf_counter() - began
            measured = torch.cuda.max_memory_allocated() - base
        else:
            began = time.perf_counter()
            block(feat)
            elapsed = time.perf_counter() - began
            measured = cpu_tensor_peak_bytes(lambda: block(feat))
    return measured, elapsed


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat (smoke run)")
    parser.add_argument("--full", action="store_true", help="also the full Sony frame, 1424×2128 packed")
    parser.add_argument("--preset", default="paper", choices=["paper", "tiny"])
    parser.add_argument("--devices", nargs="*", default=None, help="default: cpu, and cuda when available")
    parser.add_argument("--repeats", type=int, default=None, help="timed passes per configuration")
    parser.add_argument("--max-gb", type=float, default=4.0, help="largest predicted non-local peak to run (GB)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        return child(args.child)
    devices = args.devices or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    sizes = QUICK_SIZES if args.quick else SIZES + ([FULL_SIZE] if args.full else [])
    print(f"ALEN vs SID U-Net ({args.preset}) forward, batch 1, packed RAW input (output 2× larger), "
          f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    header = f"{'device':7s} {'packed size':>12s} {'model':>9s} {'time [s]':>9s} {'peak [MiB]':>11s} {'time / SID':>11s}"
    print(header)
    print("-" * len(header))
    for device in devices:
        for size in sizes:
            repeats = args.repeats or (1 if args.quick or (device == "cpu" and size == FULL_SIZE) else 3)
            sid_time = None
            for name in MODELS:
                if device == "cpu":
                    result = measure_cpu_in_subprocess(name, args.preset, size, repeats)
                else:
                    result = measure(name, args.preset, device, size, repeats)
                sid_time = result["time_s"] if sid_time is None else sid_time
                print(f"{device:7s} {size[0]:>5d}x{size[1]:<6d} {name:>9s} {result['time_s']:>9.3f} "
                      f"{result['peak_bytes'] / 2**20:>11.0f} {result['time_s'] / sid_time:>11.2f}", flush=True)
    print()
    print("non-local block, 256 channels (ALEN level 4), batch 1, float32: peak memory predicted vs measured")
    header = f"{'device':7s} {'map':>9s} {'keys':>8s} {'predicted [MiB]':>16s} {'measured [MiB]':>15s} {'time [s]':>9s}"
    print(header)
    print("-" * len(header))
    for device in devices:
        for side in QUICK_NONLOCAL_SIDES if args.quick else NONLOCAL_SIDES:
            for subsample in (True, False):
                predicted = NonLocalBlock(256, subsample=subsample).memory_bytes(side, side)
                keys = "2×2 pool" if subsample else "all"
                if predicted > args.max_gb * 1e9:
                    print(f"{device:7s} {side:>4d}x{side:<4d} {keys:>8s} {predicted / 2**20:>16.0f} {'(skipped)':>15s} {'':>9s}")
                    continue
                measured, elapsed = measure_nonlocal(device, side, subsample)
                print(f"{device:7s} {side:>4d}x{side:<4d} {keys:>8s} {predicted / 2**20:>16.1f} "
                      f"{measured / 2**20:>15.1f} {elapsed:>9.3f}", flush=True)


if __name__ == "__main__":
    main()
