"""Validate ``getImage`` transforms and the image files sent to the attach calls, before any request."""

from __future__ import annotations

import re
from typing import Any

from airflow_provider_mircate.exceptions import MircateConfigError

FITS = ("cover", "contain", "fill", "inside", "outside")
FORMATS = ("jpeg", "jpg", "png", "webp", "avif", "tiff", "tif", "gif")
QUALITY_RANGE = (1, 100)
COMPRESSION_LEVEL_RANGE = (0, 9)
# Output width and height in pixels, as the emulator bounds them.
# NOTE: the live API publishes no width or height limit for getImage, so its limit may differ from this one.
DIMENSION_RANGE = (1, 10000)

# Colours in the forms colour parsers such as sharp's take: #rgb, #rgba, #rrggbb, #rrggbbaa (the ``#``
# may be left out), rgb()/rgba()/hsl()/hsla() functions, or a CSS colour name.
_COLOUR = re.compile(
    r"#?(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})"
    r"|(?:rgba?|hsla?)\(\s*[0-9.%]+\s*(?:,\s*[0-9.%]+\s*){2,3}\)"
    r"|[a-zA-Z]{3,30}"
)

# The file extension used for each Content-Type that getImage returns.
CONTENT_TYPE_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/avif": "avif",
    "image/tiff": "tiff",
    "image/gif": "gif",
}

# Attach calls: the extensions the API takes and the size limits in bytes (1 MB = 1024 * 1024 bytes).
# NOTE: whether the API counts a MB as 10**6 or 2**20 bytes is not documented; 2**20 is assumed.
ATTACH_EXTENSIONS = ("jpeg", "jpg", "png", "tiff", "webp")
MEGABYTE = 1024 * 1024
ATTRIBUTE_IMAGE_MAX_BYTES = 5 * MEGABYTE
CATEGORY_IMAGE_MAX_BYTES = 3 * MEGABYTE


def is_templated(value: Any) -> bool:
    """Tell whether a value still holds a Jinja expression, so it can only be checked after rendering."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _parse_integer(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _integer(name: str, value: Any, low: int, high: int | None) -> int:
    allowed = f"an integer from {low} to {high}" if high is not None else f"an integer of at least {low}"
    number = _parse_integer(value)
    if number is None or number < low or (high is not None and number > high):
        raise MircateConfigError(f"{name}={value!r} is invalid: use {allowed}.")
    return number


def _dimension(name: str, value: Any) -> int:
    low, high = DIMENSION_RANGE
    number = _parse_integer(value)
    if number is None or not low <= number <= high:
        raise MircateConfigError(
            f"{name}={value!r} is invalid: use an integer of at least {low} and at most {high} (pixels)."
        )
    return number


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    text = value.strip().lower() if isinstance(value, str) else value
    if text not in allowed:
        raise MircateConfigError(f"{name}={value!r} is invalid: use one of {list(allowed)}.")
    return str(text)


def validate_transforms(
    *,
    width: Any = None,
    height: Any = None,
    fit: Any = None,
    format: Any = None,
    quality: Any = None,
    background: Any = None,
    compression_level: Any = None,
) -> dict[str, Any]:
    """
    Check the ``getImage`` transforms and return those set, as keyword arguments of ``MircateHook.get_image``.

    Digit strings (from rendered templates) are accepted for the integer transforms.

    :raises MircateConfigError: naming the invalid value and the allowed range.
    """
    checked: dict[str, Any] = {}
    if width is not None:
        checked["width"] = _dimension("width", width)
    if height is not None:
        checked["height"] = _dimension("height", height)
    if fit is not None:
        checked["fit"] = _choice("fit", fit, FITS)
    if format is not None:
        checked["format"] = _choice("format", format, FORMATS)
    if quality is not None:
        checked["quality"] = _integer("quality", quality, *QUALITY_RANGE)
    if compression_level is not None:
        checked["compression_level"] = _integer(
            "compression_level", compression_level, *COMPRESSION_LEVEL_RANGE
        )
    if background is not None:
        if not isinstance(background, str) or not _COLOUR.fullmatch(background.strip()):
            raise MircateConfigError(
                f"background={background!r} is invalid: use a colour such as '#ffffff', '#ffffff80', "
                "'rgb(255,255,255)' or 'white'."
            )
        checked["background"] = background.strip()
    return checked


def extension_for_content_type(content_type: str | None) -> str | None:
    """Return the file extension for an image ``Content-Type`` header, or ``None`` when unknown."""
    if not content_type:
        return None
    media_type = content_type.split(";", 1)[0].strip().lower()
    return CONTENT_TYPE_EXTENSIONS.get(media_type)


def sniff_image_format(head: bytes) -> str | None:
    """Return ``jpeg``, ``png``, ``tiff``, ``webp``, ``gif`` or ``avif`` from a file's first 12 bytes."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head[4:12] in (b"ftypavif", b"ftypavis"):
        return "avif"
    return None


def same_format(extension: str, sniffed: str | None) -> bool:
    """Tell whether an extension names the format of the bytes (``jpg`` is ``jpeg``, ``tif`` is ``tiff``)."""
    aliases = {"jpg": "jpeg", "tif": "tiff"}
    return sniffed is not None and aliases.get(extension, extension) == sniffed
