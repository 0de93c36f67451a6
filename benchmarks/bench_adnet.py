"""ADNet and its deformable convolution: time, peak memory and error of each way to compute them.

    python benchmarks/bench_adnet.py            # DCN op rows, then the paper model at 256×256 and 1000×1500
    python benchmarks/bench_adnet.py --quick    # small sizes, a smoke run (~1–2 min on a laptop CPU)
    python benchmarks/bench_adnet.py --sizes 256x256 --devices cpu

Part 1, the DCN op (hdredu.ops.deform.deform_conv2d, batch 1, 3×3, offsets of std 2 so that many taps leave
the image): the "columns" path (one (C·9, H·W) column tensor and one matmul), the "taps" path (one tap at a
time) and, on a tiny input only, the float64 loop reference ``deform_conv2d_reference``. Errors are the largest
|Δ| against the loop reference (tiny row) or against "columns" (larger rows).

Part 2, the whole model (paper preset, ``torch.no_grad()``, batch 1): "plain" (whole frames, the column
DCN: the straightforward computation) against "lean" (the default config: DCN path chosen by size, offsets and
merging network in row bands). The error is the largest |Δ| of "lean" against "plain" (both are exact; only
float rounding differs). At 1000×1500 on CPU "plain" is skipped (it needs > 16 GiB).

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` (tensors only); on CPU the growth of the process's
peak resident set size during the measured calls, in a fresh subprocess per configuration started with
``MALLOC_MMAP_THRESHOLD_=65536``, so that glibc returns freed tensors to the system and small sizes are not
inflated by a fragmented heap. Timings are medians after one warm-up (none for the CPU 1000×1500 model).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from hdredu.models.adnet import ADNet, ADNetConfig
from hdredu.ops.deform import deform_conv2d, deform_conv2d_reference

FULL_SIZES = [(256, 256), (1000, 1500)]
QUICK_SIZES = [(64, 64), (256, 128)]  # 256 rows: the lean path works in bands
# DCN op rows: (label, batch, channels, height, width, deformable groups); "tiny" also runs the loop reference
DCN_FULL = [("tiny", 1, 8, 12, 12, 2), ("ADNet L1 256²", 1, 64, 256, 256, 8), ("ADNet L1 1000×1500", 1, 64, 1000, 1500, 8)]
DCN_QUICK = [("tiny", 1, 8, 12, 12, 2), ("C64 64²", 1, 64, 64, 64, 8)]


def dcn_inputs(batch, channels, height, width, groups, dtype=torch.float32):
    """Seeded input, offset (std 2 px), mask, weight and bias of one DCN configuration."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, channels, height, width, generator=gen)
    offset = 2.0 * torch.randn(batch, 2 * groups * 9, height, width, generator=gen)
    mask = torch.rand(batch, groups * 9, height, width, generator=gen)
    weight = torch.randn(channels, channels, 3, 3, generator=gen) / (channels * 9) ** 0.5
    bias = torch.randn(channels, generator=gen)
    return [t.to(dtype) for t in (x, offset, weight, bias, mask)]


def _peak_start(device):
    """Reset the peak counter (CUDA) or read the current peak RSS (CPU: it only grows)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.memory_allocated()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _peak_end(device, base):
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base


def _timed(fn, device, repeats, warmup=True):
    """Median time of ``repeats`` calls of ``fn`` (after one warm-up call) and the last result."""
    if warmup:
        fn()
    times, out = [], None
    for _ in range(repeats):
        began = time.perf_counter()
        out = fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - began)
    return statistics.median(times), out


def measure(job: dict) -> dict:
    """One configuration, in this process: {"time_s", "peak_bytes", "out"}."""
    device, repeats = job["device"], job["repeats"]
    torch.manual_seed(0)
    if job["kind"] == "dcn":
        dtype = torch.float64 if job["method"] == "reference" else torch.float32
        x, offset, weight, bias, mask = dcn_inputs(*job["shape"], dtype=dtype)
        if job["method"] == "reference":
            base = _peak_start("cpu")
            seconds, out = _timed(lambda: deform_conv2d_reference(x, offset, weight, bias, padding=1, mask=mask),
                                  "cpu", 1, warmup=False)
            return {"time_s": seconds, "peak_bytes": _peak_end("cpu", base), "out": out.float()}
        x, offset, weight, bias, mask = (t.to(device) for t in (x, offset, weight, bias, mask))
        base = _peak_start(device)

        def call():
            with torch.no_grad():
                return deform_conv2d(x, offset, weight, bias, padding=1, mask=mask, method=job["method"])
    else:
        height, width = job["size"]
        config = ADNetConfig.paper()
        if job["method"] == "plain":
            config = dataclasses.replace(config, dcn_method="columns", band_rows=None, merge_band_rows=None)
        model = ADNet(config).to(device).eval()
        inputs = torch.rand(1, 3, 6, height, width).to(device)
        base = _peak_start(device)

        def call():
            with torch.no_grad():
                return model(inputs)
    big_cpu = device == "cpu" and job["kind"] == "model" and job["size"][0] * job["size"][1] > 10**6
    seconds, out = _timed(call, device, repeats, warmup=not big_cpu)
    return {"time_s": seconds, "peak_bytes": _peak_end(device, base), "out": out.cpu()}


def measure_cpu_in_subprocess(job: dict) -> dict:
    """CPU peak memory needs a fresh process (ru_maxrss never goes down): run this script with ``--child``."""
    with tempfile.TemporaryDirectory() as folder:
        result_path = Path(folder) / "result.pt"
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
        subprocess.run([sys.executable, __file__, "--child", json.dumps({**job, "result_path": str(result_path)})],
                       check=True, env=env)
        return torch.load(result_path, weights_only=True)


def run(job: dict) -> dict:
    return measure_cpu_in_subprocess(job) if job["device"] == "cpu" else measure(job)


def child(job_json: str) -> None:
    """Measure one CPU configuration in this (fresh) process and save the result for the parent."""
    job = json.loads(job_json)
    torch.save(measure(job), job["result_path"])


def _row(device, what, method, result, error):
    err = "" if error is None else f"{error:.2e}"
    print(f"{device:6s} {what:>22s} {method:>10s} {result['time_s']:>10.3f} {result['peak_bytes'] / 2**20:>11.0f} "
          f"{err:>12s}", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat (smoke run)")
    parser.add_argument("--devices", nargs="*", default=None, help="default: cpu, and cuda when available")
    parser.add_argument("--sizes", nargs="*", default=None, help="model sizes as HxW (default 256x256 1000x1500)")
    parser.add_argument("--skip-dcn", action="store_true", help="only the model rows")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per configuration")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        return child(args.child)
    devices = args.devices or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes] if args.sizes else (
        QUICK_SIZES if args.quick else FULL_SIZES)
    dcn_rows = [] if args.skip_dcn else (DCN_QUICK if args.quick else DCN_FULL)
    print(f"ADNet (paper preset) and DCNv2, batch 1, torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    header = f"{'device':6s} {'what':>22s} {'method':>10s} {'time [s]':>10s} {'peak [MiB]':>11s} {'max |Δ|':>12s}"
    print(header)
    print("-" * len(header))
    for device in devices:
        for label, *shape in dcn_rows:
            reference = None
            methods = (["reference"] if label == "tiny" and device == "cpu" else []) + ["columns", "taps"]
            for method in methods:
                repeats = args.repeats or (1 if args.quick or shape[2] * shape[3] > 10**6 else 3)
                result = run({"kind": "dcn", "device": device, "shape": shape, "method": method, "repeats": repeats})
                reference = result["out"] if reference is None else reference
                error = None if result["out"] is reference else float((result["out"] - reference).abs().max())
                _row(device, f"DCN {label}", method, result, error)
        for size in sizes:
            reference = None
            for method in ("plain", "lean"):
                if method == "plain" and device == "cpu" and size[0] * size[1] > 10**6:
                    continue  # > 16 GiB and minutes per pass: the lean row alone
                repeats = args.repeats or (1 if args.quick or (device == "cpu" and size[0] * size[1] > 10**6) else 3)
                result = run({"kind": "model", "device": device, "size": list(size), "method": method,
                              "repeats": repeats})
                reference = result["out"] if reference is None else reference
                error = None if result["out"] is reference else float((result["out"] - reference).abs().max())
                _row(device, f"ADNet {size[0]}x{size[1]}", method, result, error)


if __name__ == "__main__":
    main()
