"""Compile the event-time hot path of the pure core with mypyc (shipped with mypy), in place.

    python -m scripts.build_core            # build (make setup runs it)
    python -m scripts.build_core --clean    # remove the compiled modules: pure Python again

The compiled modules (`orchestrator/core/*.so`) sit next to their sources and are preferred by
the import system. `orchestrator/core/_compiled.json` records the SHA-256 of each source they
were built from: `orchestrator/core/__init__.py` loads every core module from its `.py` source
instead when any of them changed since (an edit always takes effect, compiled or not), when
ORCH_PURE_CORE=1 is set, or when nothing was compiled. A failed build leaves pure Python (and an
empty `_compiled.json`), which behaves the same (tests/unit/test_compiled_core.py runs the core's properties on both)."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "orchestrator" / "core"
#: the modules every data.arrival runs through (the model side sees a few events per minute)
MODULES = [
    "checks",
    "datagate",
    "decision",
    "digest",
    "effects",
    "engine",
    "openwindow",
    "position",
    "timeutil",
    "watermark",
    "windows",
]
MANIFEST = CORE / "_compiled.json"
GROUP = "orchestrator.core._native"


def source_hashes() -> dict[str, str]:
    return {m: hashlib.sha256((CORE / f"{m}.py").read_bytes()).hexdigest() for m in MODULES}


def clean() -> None:
    for path in list(CORE.glob("*.so")) + list(CORE.glob("*.pyd")):
        path.unlink()
    MANIFEST.unlink(missing_ok=True)


def build() -> int:
    from mypyc.build import mypycify
    from setuptools import setup

    clean()
    work = Path(tempfile.mkdtemp(prefix="mypyc-"))
    here = Path.cwd()
    try:
        os.chdir(ROOT)
        setup(
            name="orchestrator-core-native",
            ext_modules=mypycify(
                [f"orchestrator/core/{m}.py" for m in MODULES],
                group_name=GROUP,
                opt_level="3",
                target_dir=str(work / "c"),
            ),
            script_args=[
                "-q",
                "build_ext",
                "--inplace",
                "--build-temp",
                str(work / "temp"),
                "--build-lib",
                str(work / "lib"),
            ],
        )
    finally:
        os.chdir(here)
        shutil.rmtree(work, ignore_errors=True)
    MANIFEST.write_text(json.dumps(source_hashes(), indent=1, sort_keys=True) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m scripts.build_core", description=__doc__)
    ap.add_argument("--clean", action="store_true", help="remove the compiled modules")
    args = ap.parse_args(argv)
    if args.clean:
        clean()
        return 0
    try:
        return build()
    except (Exception, SystemExit) as exc:  # no compiler, no headers: pure Python it is
        clean()
        MANIFEST.write_text("{}\n")  # built as far as it goes: nothing compiled
        print(f"build_core: not compiled ({exc}); the core runs as pure Python", file=sys.stderr)
        return 0


if __name__ == "__main__":
    sys.exit(main())
