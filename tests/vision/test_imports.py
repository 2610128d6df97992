"""Importing the vision backends (as `socratic validate` does) must not import torch."""

from __future__ import annotations

import subprocess
import sys


def test_vision_modules_import_no_heavy_library():
    code = (
        "import sys\n"
        "import socratic.vision.clip_base, socratic.vision.clip_open, socratic.vision.clip_hf\n"
        "import socratic.vision.captioner, socratic.vision.index\n"
        "from socratic.models import backend_class\n"
        "for n in ('open_clip', 'hf_clip', 'hf_captioner'):\n"
        "    backend_class(n)(model='x')\n"
        "heavy = [m for m in ('torch', 'transformers', 'open_clip') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
