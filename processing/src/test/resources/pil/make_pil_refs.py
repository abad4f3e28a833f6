"""Pillow references for the Java resampler and loader (run: /usr/bin/python3 make_pil_refs.py in this folder).

Made with Debian's python3-pil; transformers' image processors call Image.resize(size, resample) exactly like this.
"""
import io
import numpy as np
from PIL import Image, ImageOps

rng = np.random.default_rng(11)
src = Image.fromarray(rng.integers(0, 256, size=(23, 37, 3), dtype=np.uint8))  # 37 wide, 23 high
src.save("src.png")
filters = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC,
           "lanczos": Image.LANCZOS, "box": Image.BOX, "hamming": Image.HAMMING}
for name, f in filters.items():
    for w, h in [(17, 11), (64, 50), (50, 9)]:
        src.resize((w, h), resample=f).save(f"{name}_{w}x{h}.png")

# RGBA: transformers' convert_to_rgb = alpha_composite over opaque white, then RGB
rgba = np.concatenate([rng.integers(0, 256, size=(9, 7, 3), dtype=np.uint8),
                       rng.integers(0, 256, size=(9, 7, 1), dtype=np.uint8)], axis=2)
rgba_img = Image.fromarray(rgba, "RGBA")
rgba_img.save("rgba.png")
bg = Image.new("RGBA", rgba_img.size, (255, 255, 255))
Image.alpha_composite(bg, rgba_img).convert("RGB").save("rgba_on_white.png")

# JPEG with EXIF orientation 6, and what ImageOps.exif_transpose makes of the decoded pixels
quad = np.zeros((20, 30, 3), dtype=np.uint8)
quad[:10, :15] = (255, 0, 0); quad[:10, 15:] = (0, 255, 0); quad[10:, :15] = (0, 0, 255); quad[10:, 15:] = (255, 255, 0)
jpg = Image.fromarray(quad)
exif = Image.Exif(); exif[0x0112] = 6
jpg.save("oriented6.jpg", quality=100, exif=exif.tobytes())
reread = Image.open("oriented6.jpg")
ImageOps.exif_transpose(reread).convert("RGB").save("oriented6_transposed.png")
Image.open("oriented6.jpg").convert("RGB").save("oriented6_raw.png")
