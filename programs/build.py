"""Build the on-chain programs: C -> clang-14 BPF object -> sbf_link.py -> SBPF v0 .so.

    python3 programs/build.py              # (re)write validator/programs/*.so
    python3 programs/build.py --out DIR    # write them into DIR instead
    python3 programs/build.py --check      # build into a temp dir, compare with the committed ones

Reproducible: fixed flags, sources passed by relative path from programs/ (clang runs there),
no debug info, and the post-linker copies only code and read-only data, so the output does not
depend on the checkout's location, the time or the user. `--check` exits 1 when a committed
binary differs from a fresh build (or is missing), 2 when the compiler is missing.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
COMMITTED = ROOT / "validator" / "programs"
sys.path.insert(0, str(HERE))

from sbf_link import LinkError, link  # noqa: E402

# program name -> its C source, relative to programs/
PROGRAMS = {
    "raydium_cpmm": "raydium_cpmm.c",
    "meteora_dlmm": "meteora_dlmm.c",
}
CFLAGS = [
    "-target",
    "bpfel",
    "-O2",
    "-ffreestanding",
    "-fno-builtin",
    "-fno-ident",
    "-std=c11",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-unused-function",
    "-Wno-unused-const-variable",
    "-Iinclude",
]


def compiler() -> str | None:
    """clang-14 (or $CLANG): the build is pinned to one compiler so the bytes are stable."""
    name = os.environ.get("CLANG", "clang-14")
    return shutil.which(name)


def build(out_dir: Path, clang: str) -> dict[str, Path]:
    """Compile and link every program into `out_dir`; returns name -> .so path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    built = {}
    with tempfile.TemporaryDirectory(prefix="sbf-build-") as tmp:
        for name, source in PROGRAMS.items():
            obj = Path(tmp) / f"{name}.o"
            cmd = [clang, *CFLAGS, "-c", source, "-o", str(obj)]
            subprocess.run(cmd, cwd=HERE, check=True)
            so = out_dir / f"{name}.so"
            so.write_bytes(link(obj.read_bytes()))
            built[name] = so
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=COMMITTED, help="output directory")
    parser.add_argument("--check", action="store_true", help="compare with the committed .so")
    args = parser.parse_args(argv)
    clang = compiler()
    if clang is None:
        print("build.py: clang-14 not found (apt-get install clang-14 llvm-14)", file=sys.stderr)
        return 2
    try:
        if not args.check:
            for name, so in build(args.out, clang).items():
                digest = hashlib.sha256(so.read_bytes()).hexdigest()
                print(f"{name}: {so} ({so.stat().st_size} bytes, sha256 {digest})")
            return 0
        with tempfile.TemporaryDirectory(prefix="sbf-check-") as tmp:
            bad = []
            for name, so in build(Path(tmp), clang).items():
                committed = COMMITTED / so.name
                fresh = so.read_bytes()
                same = committed.exists() and committed.read_bytes() == fresh
                digest = hashlib.sha256(fresh).hexdigest()
                print(f"{name}: {'same' if same else 'DIFFERENT'} (fresh sha256 {digest})")
                if not same:
                    bad.append(name)
            if bad:
                print(
                    f"build.py: {', '.join(bad)} differ from the committed binaries in "
                    f"{COMMITTED.relative_to(ROOT)}: run `make programs` and commit",
                    file=sys.stderr,
                )
                return 1
            return 0
    except (subprocess.CalledProcessError, LinkError) as e:
        print(f"build.py: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
