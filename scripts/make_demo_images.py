"""Generate the synthetic demo photos shipped in rasd/data/demo/telegram/photos.

They depict nothing real: coloured shapes and a caption, so the demo can show
perceptual-hash matching (a re-encoded, resized copy matches its original).
Run: python scripts/make_demo_images.py
"""

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parents[1] / "src/rasd/data/demo/telegram/photos"


def poster(seed: int, caption: str) -> Image.Image:
    img = Image.new("RGB", (480, 360), (20 + seed * 40 % 200, 30, 60 + seed * 70 % 180))
    d = ImageDraw.Draw(img)
    for i in range(8):
        x = (seed * 97 + i * 53) % 420
        y = (seed * 61 + i * 37) % 300
        d.ellipse([x, y, x + 40 + i * 6, y + 40 + i * 4],
                  fill=((seed * 50 + i * 30) % 256, (i * 80) % 256, (seed * 20 + 100) % 256))
    d.rectangle([0, 300, 480, 360], fill=(0, 0, 0))
    d.text((12, 318), caption, fill=(255, 255, 255))
    return img


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    a = poster(1, "SYNTHETIC DEMO POSTER A - rasd test image")
    a.save(OUT / "photo_1@01-03-2024_10-00-00.jpg", quality=90)
    # the same poster re-encoded and resized, as a re-upload would be
    a.resize((400, 300)).save(OUT / "photo_2@02-03-2024_09-15-00.jpg", quality=60)
    poster(4, "SYNTHETIC DEMO - unrelated picture").save(
        OUT / "photo_3@03-03-2024_18-30-00.jpg", quality=85)


if __name__ == "__main__":
    main()
