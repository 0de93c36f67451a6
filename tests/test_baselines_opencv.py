"""baselines.tonemap: OpenCV's operators, called so that OpenCV prints nothing to the notebook."""

import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from hdredu import baselines


@pytest.mark.parametrize("method", ["reinhard", "drago", "mantiuk"])
def test_tonemap_equals_opencv_on_the_raw_radiance(method):
    hdr = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0)) * 20 + 0.5  # minimum well above 0
    bgr = np.ascontiguousarray(hdr.numpy().transpose(1, 2, 0)[..., ::-1])
    operator = {"reinhard": cv2.createTonemapReinhard, "drago": cv2.createTonemapDrago,
                "mantiuk": cv2.createTonemapMantiuk}[method](gamma=2.2)
    expected = np.clip(np.nan_to_num(operator.process(bgr)), 0, 1)[..., ::-1].transpose(2, 0, 1)
    torch.testing.assert_close(baselines.tonemap(hdr, method), torch.from_numpy(expected.copy()), atol=1e-5, rtol=0)


def test_tonemap_prints_no_opencv_warning():
    script = ("import torch; from hdredu import baselines\n"
              "hdr = torch.rand(3, 8, 8) * 10 + 1\n"
              "for m in ('reinhard', 'drago', 'mantiuk'): baselines.tonemap(hdr, m)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "multi-channel" not in done.stderr, done.stderr
