"""The core must be usable without Textual (a headless front end, scripts, other UIs)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import xsus_tui.core


def test_core_never_imports_textual():
    modules = [f"xsus_tui.core.{m.name}" for m in pkgutil.iter_modules(xsus_tui.core.__path__)]
    assert "xsus_tui.core.session" in modules and len(modules) >= 8
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + (
            "bad = sorted(n for n in sys.modules if n == 'textual' or n.startswith('textual.'))\n"
            "print(bad)\nsys.exit(1 if bad else 0)\n"
        )
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
