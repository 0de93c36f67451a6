"""Image-quality metrics for HDR: PSNR-L, PSNR-μ, SSIM, PU21, optional ColorVideoVDP JOD.

HDR-VDP-2.2 lives in :mod:`hdredu.metrics.hdrvdp2`.
"""
