"""
Draw the product images that ``product_images.jsonl`` lists, as 1200x1200 JPEG files.

Each picture is a soft two-colour gradient with a few shapes and the product id printed on it. The
colours and shapes come from a CRC-32 of the file name, so the same name gives the same bytes with the
same Pillow version. Existing files are kept, so a second call only fills in missing ones.

Usage: ``python example_dags/data/make_images.py OUTPUT_FOLDER [IMAGE_LIST]``; the image list defaults to
``product_images.jsonl`` next to this script. Needs Pillow.
"""

from __future__ import annotations

import io
import json
import random
import sys
import zlib
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

SIZE = 1200
JPEG_QUALITY = 85
DEFAULT_LIST = Path(__file__).resolve().parent / "product_images.jsonl"


def draw_product_image(name: str, caption: str, size: int = SIZE) -> bytes:
    """Return the JPEG bytes of one picture; ``name`` seeds the colours and shapes."""
    rng = random.Random(zlib.crc32(name.encode("utf-8")))
    top = tuple(rng.randrange(150, 256) for _ in range(3))
    bottom = tuple(rng.randrange(40, 160) for _ in range(3))

    # A vertical gradient from one 1-pixel-wide column, stretched: fast and smooth.
    column = Image.new("RGB", (1, size))
    column.putdata(
        [
            tuple(int(top[c] + (bottom[c] - top[c]) * y / (size - 1)) for c in range(3))  # type: ignore[misc]
            for y in range(size)
        ]
    )
    image = column.resize((size, size))
    draw = ImageDraw.Draw(image)

    accent = tuple(rng.randrange(0, 256) for _ in range(3))
    margin = size // 6
    draw.rounded_rectangle(
        (margin, margin, size - margin, size - margin),
        radius=size // 10,
        fill=accent,
        outline="white",
        width=8,
    )
    for _ in range(4):
        x, y = rng.randrange(margin, size - margin), rng.randrange(margin, size - margin)
        radius = rng.randrange(size // 20, size // 6)
        colour = tuple(rng.randrange(0, 256) for _ in range(3))
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)

    font = ImageFont.load_default(size=size // 14)
    draw.text((size // 2, size - margin // 2), caption, fill="white", font=font, anchor="mm")

    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue()


def write_images(folder: Path, image_list: Path = DEFAULT_LIST) -> tuple[int, int]:
    """Draw every listed image that is missing from ``folder``; return ``(written, kept)``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = kept = 0
    with image_list.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            item = json.loads(line)
            target = folder / item["file"]
            if target.exists():
                kept += 1
                continue
            data = draw_product_image(item["file"], item["product_id"])
            partial = target.with_suffix(target.suffix + ".part")
            partial.write_bytes(data)
            partial.replace(target)
            written += 1
    return written, kept


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[-2], file=sys.stderr)
        return 2
    folder = Path(argv[1])
    image_list = Path(argv[2]) if len(argv) > 2 else DEFAULT_LIST
    written, kept = write_images(folder, image_list)
    print(f"Drew {written} image(s) into {folder}; {kept} were already there.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
