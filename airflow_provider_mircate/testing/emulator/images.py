"""
Image transforms for getImage, following the resize rules of the sharp library, done with Pillow.

Pillow is imported lazily: without it the emulator still stores images and returns them untransformed,
and a transform request gets 501 with an explanation.
"""

from __future__ import annotations

import io
import random
import threading
from collections import OrderedDict
from typing import Any

from airflow_provider_mircate.testing.emulator.protocol import ApiError, invalid

FITS = ("cover", "contain", "fill", "inside", "outside")
FORMATS = ("jpeg", "jpg", "png", "webp", "avif", "tiff", "tif", "gif")
TRANSFORM_PARAMETERS = ("background", "compressionLevel", "fit", "format", "quality", "width", "height")
CONTENT_TYPES = {
    "jpeg": "image/jpeg", "jpg": "image/jpeg", "png": "image/png", "webp": "image/webp",
    "avif": "image/avif", "tiff": "image/tiff", "tif": "image/tiff", "gif": "image/gif",
}  # fmt: skip
PILLOW_FORMATS = {
    "jpeg": "JPEG", "jpg": "JPEG", "png": "PNG", "webp": "WEBP", "avif": "AVIF",
    "tiff": "TIFF", "tif": "TIFF", "gif": "GIF",
}  # fmt: skip
MAX_DIMENSION = 10_000
PILLOW_MISSING = (
    "Image transforms need Pillow, which is not installed. "
    "Install it with: pip install 'airflow-provider-mircate[emulator]'."
)


def pillow_available() -> bool:
    """Return True when Pillow can be imported."""
    try:
        import PIL.Image  # noqa: F401
    except ImportError:
        return False
    return True


def parse_transform(query: dict[str, str]) -> dict[str, Any]:
    """Validate the getImage transform parameters (all sent as strings) and return them typed."""
    params: dict[str, Any] = {}
    for name in ("width", "height"):
        if name in query:
            params[name] = _integer(name, query[name], 1, MAX_DIMENSION)
    if "quality" in query:
        params["quality"] = _integer("quality", query["quality"], 1, 100)
    if "compressionLevel" in query:
        params["compressionLevel"] = _integer("compressionLevel", query["compressionLevel"], 0, 9)
    if "fit" in query:
        if query["fit"] not in FITS:
            raise invalid(f"Invalid fit {query['fit']!r}; use one of {list(FITS)}.", "fit", query["fit"])
        params["fit"] = query["fit"]
    if "format" in query:
        fmt = query["format"].lower()
        if fmt not in FORMATS:
            raise invalid(
                f"Invalid format {query['format']!r}; use one of {list(FORMATS)}.", "format", query["format"]
            )
        params["format"] = fmt
    if "background" in query:
        params["background"] = query["background"]
    return params


def _integer(name: str, text: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise invalid(
            f"Invalid {name} {text!r}; expected an integer from {low} to {high}.", name, text
        ) from None
    if not low <= value <= high:
        raise invalid(f"Invalid {name} {text!r}; expected an integer from {low} to {high}.", name, text)
    return value


def target_size(width: int, height: int, params: dict[str, Any]) -> tuple[int, int] | None:
    """
    Return the size to resize to before any crop or padding, or None to keep the size.

    With only a width or only a height the other side keeps the aspect ratio. With both, ``fit`` decides:
    ``cover`` and ``outside`` scale to cover the box, ``contain`` and ``inside`` to fit inside it, and
    ``fill`` stretches to the box.
    """
    box_w: int | None = params.get("width")
    box_h: int | None = params.get("height")
    if box_w is None and box_h is None:
        return None
    if box_h is None:
        assert box_w is not None
        return box_w, max(1, round(height * box_w / width))
    if box_w is None:
        return max(1, round(width * box_h / height)), box_h
    fit = params.get("fit", "cover")
    if fit == "fill":
        return box_w, box_h
    if fit in ("cover", "outside"):
        scale = max(box_w / width, box_h / height)
    else:
        scale = min(box_w / width, box_h / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def transform(data: bytes, extension: str, params: dict[str, Any]) -> tuple[bytes, str]:
    """Apply resize, fit, background and output format; return (bytes, format name)."""
    try:
        from PIL import Image, ImageColor
    except ImportError:
        raise ApiError(501, PILLOW_MISSING) from None

    output_format = params.get("format", extension.lower())
    if output_format == "avif" and not _can_write("AVIF"):
        raise invalid("This Pillow build cannot write avif; use another format.", "format", "avif")
    background = _background(params.get("background"), ImageColor)

    image: Any = Image.open(io.BytesIO(data))
    image.load()
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    size = target_size(image.width, image.height, params)
    if size is not None:
        image = image.resize(size, Image.Resampling.LANCZOS)
        image = _fit_box(image, params, background, Image)
    image = _prepare_mode(image, output_format, background, Image)

    buffer = io.BytesIO()
    image.save(buffer, format=PILLOW_FORMATS[output_format], **_save_options(output_format, params))
    return buffer.getvalue(), output_format


def _fit_box(
    image: Any, params: dict[str, Any], background: tuple[int, ...] | None, image_module: Any
) -> Any:
    box_w, box_h = params.get("width"), params.get("height")
    if box_w is None or box_h is None:
        return image
    fit = params.get("fit", "cover")
    if fit == "cover":
        left = (image.width - box_w) // 2
        top = (image.height - box_h) // 2
        return image.crop((left, top, left + box_w, top + box_h))
    if fit == "contain":
        # sharp pads with black at full opacity unless a background is given.
        fill = background or (0, 0, 0, 255)
        canvas = image_module.new("RGBA", (box_w, box_h), fill)
        offset = ((box_w - image.width) // 2, (box_h - image.height) // 2)
        canvas.paste(image.convert("RGBA"), offset, image.convert("RGBA"))
        return canvas
    return image


def _prepare_mode(
    image: Any, output_format: str, background: tuple[int, ...] | None, image_module: Any
) -> Any:
    keeps_alpha = output_format in ("png", "webp", "avif", "tiff", "tif", "gif")
    if image.mode == "RGBA" and not keeps_alpha:
        if background is None:
            return image.convert("RGB")
        flat = image_module.new("RGB", image.size, background[:3])
        flat.paste(image, mask=image.getchannel("A"))
        return flat
    if output_format == "gif":
        return (
            image.convert("RGBA").quantize(colors=255) if image.mode == "RGBA" else image.quantize(colors=256)
        )
    return image


def _save_options(output_format: str, params: dict[str, Any]) -> dict[str, Any]:
    quality = params.get("quality")
    if output_format in ("jpeg", "jpg"):
        return {"quality": quality or 80}
    if output_format in ("webp", "avif"):
        return {"quality": quality or (80 if output_format == "webp" else 50)}
    if output_format == "png":
        return {"compress_level": params.get("compressionLevel", 6)}
    return {}


def _background(text: str | None, image_color: Any) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        color = image_color.getrgb(text if not _is_bare_hex(text) else "#" + text)
    except ValueError:
        raise invalid(
            f"Invalid background {text!r}; use a colour such as '#ffffff' or 'white'.", "background", text
        ) from None
    return color if len(color) == 4 else (*color, 255)


def _is_bare_hex(text: str) -> bool:
    return len(text) in (3, 6, 8) and all(c in "0123456789abcdefABCDEF" for c in text)


def _can_write(pillow_format: str) -> bool:
    from PIL import features

    return bool(features.check(pillow_format.lower()))


class TransformCache:
    """A bounded LRU cache of transformed images, keyed by (filename, parameters)."""

    def __init__(self, max_entries: int = 256, max_bytes: int = 64 * 1024 * 1024) -> None:
        self._entries: OrderedDict[tuple[Any, ...], tuple[bytes, str]] = OrderedDict()
        self._bytes = 0
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[Any, ...]) -> tuple[bytes, str] | None:
        """Return the cached result, or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self.hits += 1
            self._entries.move_to_end(key)
            return entry

    def put(self, key: tuple[Any, ...], value: tuple[bytes, str]) -> None:
        """Store a result, evicting the least recently used ones beyond the bounds."""
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = value
            self._bytes += len(value[0])
            while self._entries and (len(self._entries) > self._max_entries or self._bytes > self._max_bytes):
                _, (data, _fmt) = self._entries.popitem(last=False)
                self._bytes -= len(data)

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0


def make_test_image(width: int = 640, height: int = 480, seed: int = 0, format: str = "png") -> bytes:
    """
    Draw a deterministic test picture: colour gradients, shapes and mild noise, so that it compresses
    like a photo rather than like a flat colour. The same arguments give the same bytes.

    :param width: width in pixels.
    :param height: height in pixels.
    :param seed: varies the colours and shapes.
    :param format: one of ``jpeg``, ``jpg``, ``png``, ``webp``, ``tiff``, ``tif``, ``gif``, ``avif``.
    """
    from PIL import Image, ImageDraw, ImageFilter

    rng = random.Random(seed)
    red = Image.linear_gradient("L").resize((width, height))
    green = Image.radial_gradient("L").resize((width, height))
    blue = Image.linear_gradient("L").rotate(90 + rng.randrange(0, 180, 15)).resize((width, height))
    image = Image.merge("RGB", (red, green, blue))
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        x1, y1 = x0 + rng.randrange(1, max(2, width // 2)), y0 + rng.randrange(1, max(2, height // 2))
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
    # Pillow's effect_noise draws from its own generator, so the noise comes from the seeded one instead.
    noise = Image.frombytes("L", (width, height), rng.randbytes(width * height)).convert("RGB")
    image = Image.blend(image, noise, 0.08).filter(ImageFilter.SMOOTH)
    fmt = format.lower()
    if fmt == "gif":
        image = image.quantize(colors=256)
    buffer = io.BytesIO()
    image.save(buffer, format=PILLOW_FORMATS[fmt], **_save_options(fmt, {}))
    return buffer.getvalue()
