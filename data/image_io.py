"""Image reading/writing with one-line errors that name the file."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from common.errors import UserError


class ImageReadError(UserError, IOError):
    """An image file is missing, unreadable or corrupt."""


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image as RGB uint8 (H, W, 3); grey and RGBA files are converted.

    Raises:
        ImageReadError: the file is missing or cannot be decoded (the message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: image file not found")
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION) if data.size else None
    if img is None:
        raise ImageReadError(f"{path}: cannot decode image (corrupt or unsupported format, {data.size} bytes)")
    return np.ascontiguousarray(img[:, :, ::-1])


def save_jpeg(path: str | os.PathLike, image_rgb: np.ndarray, quality: int = 95) -> None:
    """Write an RGB uint8 (H, W, 3) image as JPEG; raises ImageReadError naming the file on failure."""
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image_rgb[:, :, ::-1]),
                           [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:
        raise ImageReadError(f"{path}: JPEG encoding failed")
    Path(path).write_bytes(buf.tobytes())
