"""Time hdredu's HDR-VDP-2.2.1 on one test/reference pair per size (not a test; prints a table).

    python benchmarks/bench_hdrvdp2.py                   # 256², 512², 1024²; numpy and torch
    python benchmarks/bench_hdrvdp2.py --sizes 512 --repeats 5 --no-torch
    python benchmarks/bench_hdrvdp2.py --torch-threads 1      # on a busy machine

Columns: the numpy path (``hdrvdp2(...)``), the torch path on CPU (``device="cpu"``, float64) and,
when CUDA is present, the torch path on the GPU for one pair and per pair in a batch of 8. Times are
the best and the median of ``--repeats`` runs after one warm-up run (which also fills the caches of
resize weights and filter responses). The load average is printed because on a shared 2-core
machine other processes inflate wall-clock times; the target is < 2 s at 512² on an idle machine.
When the CPUs are busy, torch's intra-op thread pool makes every small op wait (~10 ms each, so
seconds per call); ``--torch-threads 1`` measures the torch CPU path without that effect.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

from hdredu.metrics.hdrvdp2 import hdrvdp2, pixels_per_degree
from hdredu.metrics.hdrvdp2.torch_backend import visual_difference as visual_difference_torch

PPD = pixels_per_degree(24, (1920, 1080), 0.5)


def make_pair(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """An HDR scene (0.1–2000 cd/m² ramps, bars, texture) and a copy with 5 % noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    log_l = -1.0 + 4.3 * (0.6 * xx + 0.4 * yy) + 0.3 * np.sign(np.sin(40 * xx)) * (yy > 0.6)
    reference = 10.0 ** (log_l + 0.03 * rng.standard_normal((size, size)))
    test = np.maximum(reference * (1 + 0.05 * rng.standard_normal((size, size))), 0.01)
    return test, reference


def best_and_median(fn, repeats: int) -> tuple[float, float]:
    """Best and median wall-clock seconds of ``repeats`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def cell(times: tuple[float, float] | None) -> str:
    return "–" if times is None else f"{times[0]:.3f} / {times[1]:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-torch", action="store_true", help="time the numpy path only")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch.set_num_threads for the CPU column (default: torch's choice)")
    args = parser.parse_args()
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)

    cuda = torch.cuda.is_available() and not args.no_torch
    print(f"HDR-VDP-2.2 Q timing, ppd {PPD:.2f}; {os.cpu_count()} CPUs, torch threads "
          f"{torch.get_num_threads()}, load average {os.getloadavg()[0]:.2f}"
          + (f", GPU {torch.cuda.get_device_name()}" if cuda else ""))
    header = ["size", "numpy s (best / median)", "torch cpu f64 s"]
    if cuda:
        header += ["torch cuda f64 s", "cuda f64 batch 8, s/pair", "cuda f32 batch 8, s/pair"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for size in args.sizes:
        test, reference = make_pair(size)

        def run(device=None):
            return lambda: hdrvdp2(test, reference, pixels_per_degree=PPD, device=device)

        row = [f"{size}²", cell(best_and_median(run(), args.repeats))]
        row.append(cell(None if args.no_torch else best_and_median(run("cpu"), args.repeats)))
        if cuda:
            row.append(cell(best_and_median(run("cuda"), args.repeats)))
            for dtype in (torch.float64, torch.float32):
                batch_t = torch.tensor(test, dtype=dtype, device="cuda").expand(8, 1, -1, -1)
                batch_r = torch.tensor(reference, dtype=dtype, device="cuda").expand(8, 1, -1, -1)

                def run_batch():
                    # (B, 1, H, W) batch; .cpu() waits for the GPU
                    visual_difference_torch(batch_t, batch_r, PPD).Q.cpu()

                best, median = best_and_median(run_batch, args.repeats)
                row.append(cell((best / 8, median / 8)))
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
