"""Rebuild data_samples/ from the CC0 HDRIs (Blender studio lights, by Greg Zaal / Poly Haven).

    python tools/make_data_samples.py ../shared/hdri/blender-studiolights
    python tools/make_data_samples.py --brackets-only      # keep the scenes, re-simulate the bracket sets

Crops a 256×384 window around the horizon of each 512×1024 equirectangular HDRI, stores it as a
half-float EXR (tiny negative values left by DWAB compression clipped to 0), then writes the bracket sets
(``hdredu.data.samples.BRACKET_SETS``, simulated from the bundled crops) and MANIFEST.tsv (file, sha256,
bytes, source, licence). Simulation is deterministic: re-running leaves existing sets byte-identical.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from hdredu import io
from hdredu.data import samples, synthetic

# scene -> (top row, left column) of the 256×384 crop in the 512×1024 source; chosen to hold the
# brightest feature (sun, lamp, window) and dark shadows in the same frame.
CROPS = {
    "city": (70, 420),
    "courtyard": (110, 330),
    "forest": (70, 520),
    "interior": (150, 470),
    "studio": (150, 100),
    "sunset": (110, 410),
}
CROP_SIZE = (256, 384)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, nargs="?", help="folder with the Blender studio-light EXRs and license.txt")
    parser.add_argument("--brackets-only", action="store_true", help="keep the bundled scenes; rewrite the bracket sets")
    args = parser.parse_args()
    if (args.source is None) != args.brackets_only:
        parser.error("give the source folder, or --brackets-only (not both)")
    out = samples.SAMPLES_DIR
    out.mkdir(exist_ok=True)
    if not args.brackets_only:
        height, width = CROP_SIZE
        for name, (top, left) in CROPS.items():
            image = io.read_hdr(args.source / f"{name}.exr")
            crop = image[top : top + height, left : left + width].clip(0.0, None)  # DWAB leaves tiny negatives
            io.write_hdr(out / f"{name}.exr", crop, half=True)
        shutil.copy(args.source / "license.txt", out / "LICENSE-hdri.txt")
    synthetic.write_bracket_sets()
    samples.write_manifest()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
