"""Draw the app icon: ``resources/cnndesk.png`` (256 px, Pillow) and ``resources/cnndesk.svg``.

A blue tile holding a 3 x 3 grid of image cards, sorted into three coloured classes. Run it
again (``python packaging/make_icon.py``) only to change the design; both files are committed.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

SIZE = 256
BACKGROUND = "#2d5fd0"
CLASSES = ("#ffb23f", "#5cd08a", "#f25f6b")
CARD = "#ffffff"
GRID = (
    (0, 0, 1),
    (0, 1, 1),
    (2, 2, 1),
)


def _cards() -> list[tuple[int, int, int, int, int]]:
    """(x0, y0, x1, y1, class) of each card, in a 256 px square."""
    margin, gap = 40, 12
    cell = (SIZE - 2 * margin - 2 * gap) // 3
    out = []
    for row, classes in enumerate(GRID):
        for col, klass in enumerate(classes):
            x0 = margin + col * (cell + gap)
            y0 = margin + row * (cell + gap)
            out.append((x0, y0, x0 + cell, y0 + cell, klass))
    return out


def draw_png(path: Path, size: int = SIZE) -> None:
    scale = 4  # draw large, then downsample: smooth edges
    big = SIZE * scale
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle(
        [8 * scale, 8 * scale, big - 8 * scale, big - 8 * scale], 48 * scale, BACKGROUND
    )
    for x0, y0, x1, y1, klass in _cards():
        box = [x0 * scale, y0 * scale, x1 * scale, y1 * scale]
        draw.rounded_rectangle(box, 10 * scale, CARD)
        inset = 9 * scale
        inner = [box[0] + inset, box[1] + inset, box[2] - inset, box[3] - inset]
        draw.rounded_rectangle(inner, 6 * scale, CLASSES[klass])
    image.resize((size, size), Image.Resampling.LANCZOS).save(path)


def svg_text() -> str:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{SIZE}" height="{SIZE}" '
        f'viewBox="0 0 {SIZE} {SIZE}">',
        f'  <rect x="8" y="8" width="{SIZE - 16}" height="{SIZE - 16}" rx="48" fill="{BACKGROUND}"/>',
    ]
    for x0, y0, x1, y1, klass in _cards():
        w, h = x1 - x0, y1 - y0
        parts.append(f'  <rect x="{x0}" y="{y0}" width="{w}" height="{h}" rx="10" fill="{CARD}"/>')
        parts.append(
            f'  <rect x="{x0 + 9}" y="{y0 + 9}" width="{w - 18}" height="{h - 18}" rx="6" '
            f'fill="{CLASSES[klass]}"/>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main() -> None:
    resources = Path(__file__).resolve().parent.parent / "resources"
    resources.mkdir(exist_ok=True)
    draw_png(resources / "cnndesk.png")
    (resources / "cnndesk.svg").write_text(svg_text(), encoding="utf-8")
    print(f"wrote {resources / 'cnndesk.png'} and {resources / 'cnndesk.svg'}")


if __name__ == "__main__":
    main()
