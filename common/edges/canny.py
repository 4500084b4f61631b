"""The SEFD student's edge channel: Canny gradient magnitude of the augmented RGB crop, grey-dilated.

What the SEFD release computes inside its model (``canny_edge`` module), reproduced step by step:

1. grayscale: the release calls ``kornia.color.bgr_to_rgb`` on an RGB tensor and then ``rgb_to_grayscale``,
   so the grey value is ``0.299 B + 0.587 G + 0.114 R`` (red and blue weights swapped). ``gray='release'``
   keeps this (the published SEFD weights saw it); ``gray='standard'`` uses ``0.299 R + 0.587 G + 0.114 B``.
2. ``kornia.filters.canny`` with default parameters (5x5 Gaussian, sigma 1, thresholds 0.1 / 0.2); only its
   FIRST output is used: the gradient magnitude after non-maximum suppression (not the thresholded edges).
   The release also ran hysteresis, whose result it discarded; ``hysteresis=False`` returns the identical
   first output at a fraction of the cost (~7 ms vs ~600 ms per 256x256 image on a CPU).
3. grey dilation with a flat 5x5 square (``kornia.morphology.dilation(x, torch.ones(5, 5))`` in the release),
   which equals a 5x5 max filter with -inf padding.

Values are not bounded by 1 (a unit step reaches ~2.6 after the blur); the release fed them unclipped.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from kornia.color import rgb_to_grayscale
from kornia.filters import gaussian_blur2d, spatial_gradient

from common.edges.dilation import grey_dilation

GRAY_MODES = ("release", "standard")
STUDENT_DILATION = 5  # the release's cfg.dilation[1] = (5, 5), picked by its model for the student channel


def to_gray(img: torch.Tensor, gray: str = "release") -> torch.Tensor:
    """RGB in [0, 1] (B,3,H,W) -> grey (B,1,H,W) with the release's (swapped) or the standard weights."""
    if gray not in GRAY_MODES:
        raise ValueError(f"gray must be one of {GRAY_MODES}, got {gray!r}")
    if img.ndim != 4 or img.shape[1] != 3:
        raise ValueError(f"expected an RGB batch (B,3,H,W), got shape {tuple(img.shape)}")
    if gray == "release":
        img = img.flip(1)  # what bgr_to_rgb does to an RGB tensor: channel 0 becomes blue
    return rgb_to_grayscale(img)


# NMS neighbours of the four gradient axes, (dy, dx) of the positive direction; the negative one is opposite.
# Direction k (kornia's convention) is k * 45 degrees from +x towards +y; axis a pairs directions a and a + 4.
_AXIS_OFFSETS = ((0, 1), (1, 1), (1, 0), (1, -1))
_CANNY_EPS = 1e-6  # kornia's default ``eps`` inside the magnitude's square root
WINDOW_MARGIN = 5  # px around the non-constant region that a windowed Canny keeps (blur 2 + Sobel 1 + NMS 1, +1)


def _canny_gradients(gray: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """kornia.filters.canny's default blur (5x5, sigma 1) and unnormalised Sobel: (gx, gy), each (B,1,H,W)."""
    grad = spatial_gradient(gaussian_blur2d(gray, (5, 5), (1, 1)), normalized=False)
    return grad[:, :, 0], grad[:, :, 1]


def _non_max_suppression(gx: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
    """kornia.filters.canny's NMS magnitude, bit for bit, without its 9-neighbour stack and gather.

    The pixel is compared with its two neighbours along the gradient direction rounded to 45 degrees; along
    directions 0 (+x) and 2 (+y) a tie with that neighbour is accepted, all other comparisons are strict.
    Both neighbours of a pixel lie on one axis (direction d and d + 4), so one pass per axis suffices.
    """
    height, width = gx.shape[-2:]
    gx_pad, gy_pad = F.pad(gx, (1, 1, 1, 1)), F.pad(gy, (1, 1, 1, 1))
    padded = torch.sqrt(gx_pad * gx_pad + gy_pad * gy_pad + _CANNY_EPS)  # kornia's exact expression
    magnitude = padded[..., 1:1 + height, 1:1 + width]
    direction = (torch.nan_to_num(torch.atan2(gy, gx)) * (4 / math.pi)).round()
    axis = (direction % 4).to(torch.uint8)  # d and d + 4 share an axis; torch's % is non-negative here

    def neighbour(dy: int, dx: int) -> torch.Tensor:
        return padded[..., 1 + dy:1 + dy + height, 1 + dx:1 + dx + width]

    is_max = torch.zeros_like(magnitude, dtype=torch.bool)
    for a, (dy, dx) in enumerate(_AXIS_OFFSETS):
        forward, backward = neighbour(dy, dx), neighbour(-dy, -dx)
        beats_forward = magnitude >= forward if a in (0, 2) else magnitude > forward  # directions 0, 2: ties ok
        is_max |= (axis == a) & beats_forward & (magnitude > backward)
    is_max &= magnitude > padded[..., :1, :1]  # never keep a flat pixel (the border has no gradient)
    return magnitude * is_max


def canny_magnitude(gray: torch.Tensor) -> torch.Tensor:
    """kornia Canny's first output (NMS gradient magnitude) of a grey batch (B,1,H,W), hysteresis skipped.

    Bit-identical to ``kornia.filters.canny(gray, hysteresis=False)[0]`` (same blur and Sobel calls, an
    equivalent NMS); half-precision inputs are computed in float32 like kornia.
    """
    if gray.ndim != 4 or gray.shape[1] != 1:
        raise ValueError(f"expected a grey batch (B,1,H,W), got shape {tuple(gray.shape)}")
    dtype = gray.dtype if gray.is_floating_point() else torch.float32
    if dtype in (torch.float16, torch.bfloat16):
        with torch.autocast(gray.device.type, enabled=False):
            gx, gy = _canny_gradients(gray.float())
    else:
        gx, gy = _canny_gradients(gray.to(dtype))
    return _non_max_suppression(gx, gy).to(dtype)


def mask_window(mask: torch.Tensor, margin: int) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1): bbox of the True pixels of an (H, W) mask grown by ``margin`` px and clipped to the
    image (slices y0:y1, x0:x1); None when the mask is empty."""
    rows, cols = mask.any(1).nonzero(), mask.any(0).nonzero()
    if rows.numel() == 0:
        return None
    height, width = mask.shape
    return (max(0, int(rows[0]) - margin), min(height, int(rows[-1]) + 1 + margin),
            max(0, int(cols[0]) - margin), min(width, int(cols[-1]) + 1 + margin))


def nonconstant_window(x: torch.Tensor, margin: int) -> tuple[int, int, int, int] | None:
    """:func:`mask_window` of the pixels of (B,C,H,W) maps that differ from their map's top-left pixel."""
    return mask_window((x != x[..., :1, :1]).flatten(0, 1).any(0), margin)


def canny_magnitude_windowed(gray: torch.Tensor) -> torch.Tensor:
    """:func:`canny_magnitude` computed only where it can be non-zero: on the maps that are not constant, in
    the window around their non-constant pixels (:func:`nonconstant_window` with :data:`WINDOW_MARGIN`).

    Outside that window the magnitude is exactly 0, and inside it every filter sees the same values as on the
    full image (a window edge inside the image is surrounded by the constant; a window edge on the image
    border keeps kornia's border handling), so the result equals the full-image one. Renders of a few people
    in a large image or crop are mostly constant background, and a person outside the crop renders nothing.
    """
    out = torch.zeros_like(gray, dtype=gray.dtype if gray.is_floating_point() else torch.float32)
    busy = (gray != gray[..., :1, :1]).flatten(1).any(1).nonzero().squeeze(1)  # maps that are not constant
    if busy.numel() == 0:
        return out
    maps = gray.index_select(0, busy)
    y0, y1, x0, x1 = nonconstant_window(maps, WINDOW_MARGIN)
    out[busy, :, y0:y1, x0:x1] = canny_magnitude(maps[..., y0:y1, x0:x1])
    return out


@torch.no_grad()
def canny_edge_channel(img: torch.Tensor, dilation: int = STUDENT_DILATION, gray: str = "release") -> torch.Tensor:
    """The student's 4th input channel from RGB crops.

    Args:
        img: (B,3,H,W) or (3,H,W) float RGB in [0, 1], on any device.
        dilation: side of the square grey-dilation kernel (1 = none).
        gray: 'release' (swapped R/B weights, as the release) or 'standard'.
    Returns:
        (B,1,H,W) (or (1,H,W) for a single image) float edge map, same device and dtype as ``img``.
    """
    single = img.ndim == 3
    batch = img[None] if single else img
    if not batch.is_floating_point():
        raise ValueError(f"expected a float image in [0, 1], got dtype {batch.dtype}")
    edge = grey_dilation(canny_magnitude(to_gray(batch, gray)), dilation)
    return edge[0] if single else edge


class CannyEdgeChannel(torch.nn.Module):
    """Module form of :func:`canny_edge_channel` (no parameters); call it on a batch of RGB crops."""

    def __init__(self, dilation: int = STUDENT_DILATION, gray: str = "release") -> None:
        super().__init__()
        if gray not in GRAY_MODES:
            raise ValueError(f"gray must be one of {GRAY_MODES}, got {gray!r}")
        self.dilation = int(dilation)
        self.gray = gray

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) RGB in [0, 1] -> (B,1,H,W) edge channel."""
        return canny_edge_channel(img, self.dilation, self.gray)

