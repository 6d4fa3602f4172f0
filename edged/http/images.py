"""Uploaded images: what they are (by their bytes), how big they would decode, decoding.

The declared content type is only a first filter; the bytes decide. The size
in pixels is read from the header before decoding, so a small file that would
decode to gigabytes (a decompression bomb) is refused without being decoded.
An image whose header does not state its size (a malformed JPEG whose markers
cannot be followed, an unknown WebP chunk) is refused too: decoders are lenient
and would find a frame header we did not see, so it is never decoded blind.
"""

from __future__ import annotations

import struct
from typing import Optional, Tuple

import numpy as np

from edged.cvutil import import_cv2

__all__ = [
    "ACCEPTED_TYPES",
    "BadImage",
    "ImageTooLarge",
    "check_image",
    "decode_image",
    "image_size",
    "sniff_format",
]

#: Content types accepted for an upload (the bytes are checked after).
ACCEPTED_TYPES = frozenset(
    {
        "image/jpeg",
        "image/jpg",
        "image/pjpeg",
        "image/png",
        "image/bmp",
        "image/x-ms-bmp",
        "image/webp",
        "application/octet-stream",
    }
)
FORMATS = "JPEG, PNG, BMP or WebP"

_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


class BadImage(ValueError):
    """The bytes are not an image edged can decode (answered with 400)."""


class ImageTooLarge(ValueError):
    """The image would decode to more pixels than allowed (answered with 413)."""


def sniff_format(data: bytes) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:2] == b"BM" and len(data) >= 26:
        return "bmp"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    raise BadImage(f"not a {FORMATS} image (the data starts with {data[:8]!r})")


def image_size(data: bytes, fmt: str) -> Optional[Tuple[int, int]]:
    """(width, height) from the header, or None when the header does not say.

    None must mean "refuse": decoding without a known size is how a 600-byte
    file becomes gigabytes of pixels.
    """
    try:
        if fmt == "png":
            return struct.unpack(">II", data[16:24])
        if fmt == "bmp":
            width, height = struct.unpack("<ii", data[18:26])
            return abs(width), abs(height)
        if fmt == "jpeg":
            return _jpeg_size(data)
        if fmt == "webp":
            return _webp_size(data)
    except struct.error:
        raise BadImage(f"truncated {fmt.upper()} header") from None
    return None


def _jpeg_size(data: bytes) -> Optional[Tuple[int, int]]:
    """The first frame header's size, following the markers strictly.

    libjpeg skips stray bytes between markers; this does not, so it cannot be
    led past a frame header that libjpeg would then decode. Anything it cannot
    follow (stray bytes, ``FF 00`` outside a scan) gives None.
    """
    i, end = 2, len(data)
    while i + 4 <= end:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x00:  # a stuffed byte: only valid inside scan data
            return None
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame header
            return None
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return None


def _webp_size(data: bytes) -> Optional[Tuple[int, int]]:
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


def check_image(data: bytes, max_pixels: int) -> str:
    """The format of ``data``; raises BadImage or ImageTooLarge. Cheap: runs on the loop."""
    if not data:
        raise BadImage("the upload is empty")
    fmt = sniff_format(data)
    size = image_size(data, fmt)
    if size is None:
        raise BadImage(
            f"the {fmt.upper()} header does not state the image's size in a form edged can "
            "read, so it is not decoded; save the image again (e.g. with an image editor or "
            "cv2.imwrite) and upload that"
        )
    width, height = size
    if width <= 0 or height <= 0:
        raise BadImage(f"the {fmt.upper()} header says {width}x{height} pixels")
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"the image is {width}x{height} pixels; at most {max_pixels} pixels are accepted"
        )
    return fmt


def decode_image(data: bytes, max_pixels: int) -> np.ndarray:
    """Decode to a BGR uint8 image (blocking: call on an executor).

    The header is checked again here, so no caller can decode an image of
    unknown or excessive size by forgetting ``check_image``.
    """
    check_image(data, max_pixels)
    cv2 = import_cv2()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise BadImage(f"the data looks like an image but cannot be decoded as {FORMATS}")
    if image.shape[0] * image.shape[1] > max_pixels:
        raise ImageTooLarge(
            f"the image is {image.shape[1]}x{image.shape[0]} pixels; "
            f"at most {max_pixels} pixels are accepted"
        )
    return image
