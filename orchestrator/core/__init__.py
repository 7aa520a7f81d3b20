"""The pure, deterministic core: no IO, no clock, no Faust. Everything here is a function of its inputs.

The modules every data.arrival runs through may also be compiled with mypyc
(`python -m scripts.build_core`, run by `make setup`): the compiled modules sit next to their
sources. They are used only while every source is the one they were built from (SHA-256 in
`_compiled.json`) and ORCH_PURE_CORE is not set; otherwise every core module is loaded from its
`.py` source, so an edit always takes effect and the pure build is one variable away."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from importlib.machinery import ModuleSpec
from importlib.util import spec_from_file_location
from pathlib import Path

_HERE = Path(__file__).resolve().parent
MANIFEST = _HERE / "_compiled.json"


def _compiled_usable() -> bool:
    if os.environ.get("ORCH_PURE_CORE", "") not in ("", "0"):
        return False
    try:
        recorded = json.loads(MANIFEST.read_text())
        return all(
            hashlib.sha256((_HERE / f"{name}.py").read_bytes()).hexdigest() == sha
            for name, sha in recorded.items()
        )
    except (OSError, ValueError, AttributeError):
        return False


class _SourceFirst:
    """Meta path finder: `orchestrator.core.<module>` from its `.py` source, never compiled."""

    @staticmethod
    def find_spec(name: str, path: object = None, target: object = None) -> ModuleSpec | None:
        package, _, leaf = name.rpartition(".")
        source = _HERE / f"{leaf}.py"
        if package != __name__ or not source.is_file():
            return None
        return spec_from_file_location(name, source)


#: whether the compiled modules (if any were built) are the ones imported
USE_COMPILED = _compiled_usable()
if not USE_COMPILED and any(_HERE.glob("*.so")):
    sys.meta_path.insert(0, _SourceFirst)


def compiled_modules() -> list[str]:
    """The core modules imported so far that run compiled (empty: pure Python)."""
    return sorted(
        name
        for name, module in sys.modules.items()
        if name.startswith(__name__ + ".")
        and str(getattr(module, "__file__", "")).endswith((".so", ".pyd"))
    )
