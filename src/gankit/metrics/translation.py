"""How close translated images are to their true targets, image by image: L1 (mean absolute
error), PSNR and SSIM, all on images scaled to [0, 1].

SSIM is Wang et al. (2004)'s: an 11x11 Gaussian window of sigma 1.5 over the valid part of the
image, constants (0.01)^2 and (0.03)^2, averaged over the window positions and the channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: PSNR of an exact copy would be infinite: an error this small (1e-10) reads as 100 dB
MIN_MSE = 1e-10
SSIM_WINDOW, SSIM_SIGMA = 11, 1.5
SSIM_C1, SSIM_C2 = 0.01**2, 0.03**2


def _unit(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] images as floats in [0, 1]."""
    return images.float().add(1.0).mul(0.5).clamp(0.0, 1.0)


def l1_per_image(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean absolute error of each image, in [0, 1] units."""
    return (_unit(outputs) - _unit(targets)).abs().flatten(1).mean(1)


def psnr_per_image(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio of each image in dB (peak 1)."""
    mse = (_unit(outputs) - _unit(targets)).pow(2).flatten(1).mean(1)
    return -10.0 * torch.log10(mse.clamp_min(MIN_MSE))


def _gaussian_window(channels: int) -> torch.Tensor:
    offsets = torch.arange(SSIM_WINDOW, dtype=torch.float32) - (SSIM_WINDOW - 1) / 2
    g = torch.exp(-(offsets**2) / (2 * SSIM_SIGMA**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, -1, -1).contiguous()


def ssim_per_image(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Structural similarity of each image (1: identical); images smaller than the window are
    compared over their whole extent by a window of their size."""
    x, y = _unit(outputs).double(), _unit(targets).double()  # variances: small differences
    c = x.shape[1]
    window = _gaussian_window(c).to(x.device, x.dtype)
    if min(x.shape[-2:]) < SSIM_WINDOW:
        side = min(x.shape[-2:])
        window = window[..., :side, :side] / window[..., :side, :side].sum((-2, -1), keepdim=True)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window, groups=c)

    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    ssim = ((2 * mx * my + SSIM_C1) * (2 * cov + SSIM_C2)) / (
        (mx**2 + my**2 + SSIM_C1) * (vx + vy + SSIM_C2)
    )
    return ssim.flatten(1).mean(1).float()


def pair_scores(outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
    """L1, PSNR and SSIM of each output against its target ([-1, 1] images, N x C x H x W)."""
    if outputs.shape != targets.shape:
        raise ValueError(f"outputs {tuple(outputs.shape)} and targets {tuple(targets.shape)}")
    return {
        "l1": l1_per_image(outputs, targets),
        "psnr": psnr_per_image(outputs, targets),
        "ssim": ssim_per_image(outputs, targets),
    }
