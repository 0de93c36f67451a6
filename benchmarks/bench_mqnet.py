"""MQNet inference on CPU: fp32 eager / fp32 compiled / all-int8 / mixed (backbone + decoder int8, head fp32).

    python benchmarks/bench_mqnet.py             # paper model at 256×256 and 768×1280, batch 1
    python benchmarks/bench_mqnet.py --quick     # tiny model at 64×64: a smoke run (a few minutes: 3 compiles)
    python benchmarks/bench_mqnet.py --checkpoint runs/mqnet.pt --threads 4   # on a quiet machine

Every configuration runs in a fresh subprocess (compilation caches and memory do not leak between rows):
build the variant with :mod:`hdredu.quantize` (export → X86InductorQuantizer → calibrate on 4 bundled training
scenes → convert → ``torch.compile`` with freezing), call it once (compiling: "compile [s]"), then time
``--repeats`` calls (median). Columns:

    latency      median wall time of one call, batch 1, ``torch.no_grad()``
    × fp32-c     speed-up over compiled fp32 (the issue's target: mixed ≥ 3×)
    peak Δ       growth of the resident set during the timed calls (sampled every ms from /proc/self/statm)
    weights      bytes of stored weights (int8 = 1 byte per weight; see ``quantize.model_bytes``)
    PSNR-μ       of the output vs the held-out courtyard scene's min–max normalised HDR (μ = 5000)
    loss         PSNR-μ of fp32 eager − PSNR-μ of the variant (the issue's target: mixed ≤ 0.3 dB)
    vs fp32      PSNR-μ of the variant against the fp32 eager output (agreement, independent of training)

Without ``--checkpoint`` the weights are random (seed 0): latency, memory and agreement are meaningful, the PSNR
against the ground truth is not. onnxruntime (fp32, CPU provider) is added when it is installed.
One thread by default: on a busy CPU (more runnable processes than cores) a multi-threaded int8 graph collapses,
every one of its ~100 small parallel regions waiting for a descheduled thread (measured on the 2-core dev machine
under load 6: tiny int8 at 64², 1.8 s per call with 2 threads, 15 ms with 1). Give ``--threads`` on a quiet machine.
The timings on a shared machine vary by tens of percent between runs; compare ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch
import torch.nn.functional as F

FULL_SIZES = [(256, 256), (768, 1280)]
QUICK_SIZES = [(64, 64)]
VARIANTS = ("fp32-eager", "fp32-compiled", "int8", "mixed", "onnxruntime")
CALIBRATION_SCENES = ("city", "forest", "interior", "studio")
TEST_SCENE = "courtyard"


class PeakRSS:
    """Peak growth of the resident set size inside a ``with`` block (a thread samples /proc/self/statm every ms)."""

    def __init__(self):
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.peak = 0

    def _rss(self) -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * self.page

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss() - self.base)
            time.sleep(0.001)

    def __enter__(self):
        self.base, self.peak = self._rss(), 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss() - self.base)


def scene_pair(name: str, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """A bundled scene resized to ``size``: (LDR (1, 3, H, W) = Reinhard display image, target = min–max HDR)."""
    from hdredu.data.itm_pairs import make_pair
    from hdredu.data.samples import load_sample

    hdr = F.interpolate(load_sample(name)[None], size=size, mode="bilinear", align_corners=False)[0].clamp(min=0)
    ldr, target = make_pair(hdr, "reinhard")
    return ldr[None], target[None]


def build(variant: str, preset: str, checkpoint: str | None, size: tuple[int, int]):
    """The model to time for ``variant`` and a one-argument callable that runs it."""
    from hdredu import quantize
    from hdredu.models.mqnet import MQNet, MQNetConfig

    torch.manual_seed(0)
    model = MQNet(getattr(MQNetConfig, preset)()).eval()
    if checkpoint:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(state.get("model", state))
    calibration = [scene_pair(name, size)[0] for name in CALIBRATION_SCENES]
    if variant == "fp32-eager":
        return model, lambda x: model(x)
    if variant == "onnxruntime":
        import onnxruntime

        path = Path(tempfile.mkdtemp()) / "mqnet.onnx"
        torch.onnx.export(quantize.ExportableNetwork(model), (calibration[0],), str(path), input_names=["ldr"])
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return path, lambda x: torch.from_numpy(session.run(None, {"ldr": x.numpy()})[0])
    name = {"fp32-compiled": "fp32", "int8": "int8", "mixed": "mixed"}[variant]
    quantized = quantize.build_variant(model, name, calibration)
    return quantized, quantized


def measure(job: dict) -> dict:
    """One configuration: {"compile_s", "latency_s", "peak_bytes", "weight_bytes", "out"}."""
    from hdredu import quantize

    size = tuple(job["size"])
    ldr, _ = scene_pair(TEST_SCENE, size)
    began = time.perf_counter()
    model, run = build(job["variant"], job["preset"], job["checkpoint"], size)
    with torch.no_grad():
        out = run(ldr)  # first call: compiles the compiled variants
    compile_s = time.perf_counter() - began
    times = []
    with torch.no_grad(), PeakRSS() as memory:
        for _ in range(job["repeats"]):
            start = time.perf_counter()
            out = run(ldr)
            times.append(time.perf_counter() - start)
    weights = Path(model).stat().st_size if isinstance(model, Path) else quantize.model_bytes(model)
    return {"compile_s": compile_s, "latency_s": statistics.median(times), "peak_bytes": memory.peak,
            "weight_bytes": weights, "out": out.detach().float()}


def measure_in_subprocess(job: dict) -> dict | str:
    """Run :func:`measure` in a fresh process (``--child``); a string says why it failed."""
    with tempfile.TemporaryDirectory() as folder:
        job = dict(job, result_path=str(Path(folder) / "result.pt"))
        env = dict(os.environ, OMP_NUM_THREADS=str(job["threads"]))  # Inductor's OpenMP kernels read it at start-up
        done = subprocess.run([sys.executable, __file__, "--child", json.dumps(job)], capture_output=True, text=True,
                              env=env, check=False)
        if done.returncode != 0:
            lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
            return lines[-1] if lines else f"exit code {done.returncode}"
        return torch.load(job["result_path"], weights_only=True)


def child(job_json: str) -> None:
    job = json.loads(job_json)
    torch.set_num_threads(job["threads"])
    torch.save(measure(job), job["result_path"])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny model at 64×64 (smoke run)")
    parser.add_argument("--preset", default=None, choices=["paper", "tiny"], help="default: paper (tiny with --quick)")
    parser.add_argument("--checkpoint", default=None, help="a state_dict (or {'model': state_dict}) of a trained MQNet")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per configuration (default 10, quick 3)")
    parser.add_argument("--threads", type=int, default=1, help="torch / OpenMP threads (default 1, see above)")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--sizes", nargs="*", default=None, help="HxW sizes, e.g. 256x256 768x1280 (multiples of 32)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        return child(args.child)
    from hdredu import quantize
    from hdredu.metrics import psnr_mu

    preset = args.preset or ("tiny" if args.quick else "paper")
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    if args.sizes:
        sizes = [tuple(int(side) for side in text.lower().split("x")) for text in args.sizes]
    repeats = args.repeats or (3 if args.quick else 10)
    variants = [v for v in args.variants if v != "onnxruntime" or _has_onnxruntime()]
    problems = quantize.int8_support_problems(compile=True)
    if problems:
        print("int8 / compiled variants skipped: " + "; ".join(problems))
        variants = [v for v in variants if v in ("fp32-eager", "onnxruntime")]
    torchao_version = _version("torchao")
    print(f"MQNet ({preset}{', trained' if args.checkpoint else ', random weights'}), batch 1, torch {torch.__version__}, "
          f"torchao {torchao_version}, {args.threads} thread(s), CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}")
    header = (f"{'size':>10s} {'variant':>14s} {'compile [s]':>11s} {'latency [ms]':>12s} {'× fp32-c':>8s} "
              f"{'peak Δ [MiB]':>12s} {'weights [kB]':>12s} {'PSNR-μ':>7s} {'loss [dB]':>9s} {'vs fp32 [dB]':>12s}")
    print(header)
    print("-" * len(header))
    for size in sizes:
        _, target = scene_pair(TEST_SCENE, size)
        results = {}
        for variant in variants:
            job = {"variant": variant, "preset": preset, "checkpoint": args.checkpoint, "size": list(size),
                   "repeats": repeats, "threads": args.threads}
            result = measure_in_subprocess(job)
            label = f"{size[0]:>4d}x{size[1]:<5d} {variant:>14s}"
            if isinstance(result, str):
                print(f"{label} failed: {result}", flush=True)
                continue
            results[variant] = result
            reference = results.get("fp32-eager")
            compiled = results.get("fp32-compiled")
            score = psnr_mu(result["out"], target)
            loss = f"{psnr_mu(reference['out'], target) - score:9.3f}" if reference else f"{'–':>9s}"
            agreement = f"{psnr_mu(result['out'], reference['out']):12.1f}" if reference and variant != "fp32-eager" else f"{'–':>12s}"
            speedup = f"{compiled['latency_s'] / result['latency_s']:8.2f}" if compiled else f"{'–':>8s}"
            print(f"{label} {result['compile_s']:11.1f} {1000 * result['latency_s']:12.1f} {speedup} "
                  f"{result['peak_bytes'] / 2**20:12.1f} {result['weight_bytes'] / 1000:12.0f} {score:7.2f} {loss} {agreement}",
                  flush=True)


def _has_onnxruntime() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


if __name__ == "__main__":
    main()
