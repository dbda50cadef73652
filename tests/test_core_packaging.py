"""The wheel users install: only zoo's own import names, and the built-in manifest inside it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_claims_no_generic_top_level_names_and_ships_the_manifest(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("zoo-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {n.split("/")[0] for n in names}
    assert {t for t in top_level if not t.endswith(".dist-info")} == {"zoo", "zoo_plugins"}
    manifest = zipfile.ZipFile(wheel).read("zoo_plugins/registry.yaml").decode()
    assert manifest == (ROOT / "registry.yaml").read_text()
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[zoo.plugins]" in text and "zoo_plugins:registry.yaml" in text
    assert "zoo = zoo.cli:main" in text
