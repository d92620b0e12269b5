"""The Python packages the pipeline needs at run time, and installing the missing ones.

Blender ships numpy but not torch, scipy or pillow; the extension bundles the small pure
wheels (roma, huggingface_hub, ...). The rest is installed on request with Blender's own
Python and pip into a folder the extension owns, which is put on `sys.path` only when the
pipeline is about to run. No bpy here: the preferences call these functions.
"""
from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.metadata
import importlib.util
import os
import site
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Sequence

from .errors import Cancelled, Dust3rError

# (import name, distribution name): all are needed by the pipeline. The extension bundles the
# pure-Python ones (roma, huggingface_hub); the binary ones are installed by pip with Blender's
# Python, which picks the build of that Python (bundled binary wheels are not selected alike
# by every Blender release: blender_manifest.toml). huggingface_hub's downloads import yaml.
# PyAV (FFmpeg inside its wheels, tens of MB per platform) reads movies and OpenEXR frames.
PACKAGES = (("torch", "torch"), ("scipy", "scipy"), ("PIL", "pillow"), ("roma", "roma"),
            ("safetensors", "safetensors"), ("huggingface_hub", "huggingface_hub"),
            ("yaml", "pyyaml"), ("av", "av"))
# Distributions that only some inputs need: Install Dependencies installs them with the rest,
# but a run without them still starts; the input that needs one says how to install it
# (core.frames.import_av).
ONLY_FOR = {"av": "movie files and OpenEXR frames"}
# Compute platforms of the torch wheels: (id, label, index URL or None for PyPI).
PLATFORMS = (  # CUDA 12.8 first (the default): the newest that most installed drivers run
    ("cu128", "CUDA 12.8", "https://download.pytorch.org/whl/cu128"),
    ("cu130", "CUDA 13.0 (driver 580+)", "https://download.pytorch.org/whl/cu130"),
    ("cu126", "CUDA 12.6", "https://download.pytorch.org/whl/cu126"),
    ("cpu", "CPU only", "https://download.pytorch.org/whl/cpu"),
    ("pypi", "PyPI default (macOS with Metal; Linux with CUDA)", None),
)


@dataclass(frozen=True)
class Package:
    module: str
    distribution: str
    version: Optional[str]  # None: not importable
    folder: Optional[str] = None  # the sys.path entry it imports from (or was imported from)

    @property
    def present(self) -> bool:
        return self.version is not None

    @property
    def build(self) -> str:
        """The compute build of torch from its version tag ("+cu128", "+cpu"), else ""."""
        if self.module != "torch" or not self.version or "+" not in self.version:
            return ""
        tag = self.version.split("+", 1)[1]
        if tag == "cpu":
            return "CPU only"
        if tag.startswith("cu") and tag[2:].isdigit() and len(tag) >= 4:
            return f"CUDA {tag[2:-1]}.{tag[-1]}"  # cu128 -> CUDA 12.8
        return tag


@contextlib.contextmanager
def without_triton() -> Iterator[None]:
    """Inside, `import triton` fails as if it were not installed (unless it is imported
    already). torch's CUDA wheels for Linux bring triton, whose own LLVM segfaults the process
    when it loads after Mesa's libLLVM (a Mesa desktop, an EGL render); the pipeline never
    compiles kernels, and torch remembers that triton is missing (measured: Blender 5.3 as a
    module, torch 2.13.0+cu130)."""
    blocked = "triton" not in sys.modules
    if blocked:
        sys.modules["triton"] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        if blocked and sys.modules.get("triton", False) is None:
            del sys.modules["triton"]


def add_paths(*folders: str) -> None:
    """Append existing folders to sys.path (after Blender's own packages, which win)."""
    for folder in folders:
        if folder and os.path.isdir(folder) and folder not in sys.path:
            sys.path.append(folder)
    importlib.invalidate_caches()


def status(folders: Sequence[str] = ()) -> list[Package]:
    """Which runtime packages are importable, their versions and folders, without importing
    them: from sys.path plus `folders` (searched after it, as `add_paths` appends, but not
    added). A package imported already is described as it was imported."""
    search = sys.path + [f for f in folders if f and os.path.isdir(f) and f not in sys.path]
    out = []
    for module, dist in PACKAGES:
        folder = _folder(module, search)
        version = None
        if folder is not None:
            found = next(iter(importlib.metadata.distributions(name=dist, path=[folder])), None)
            version = found.version if found is not None else "unknown version"
        out.append(Package(module, dist, version, folder))
    return out


def _folder(module: str, search: list[str]) -> Optional[str]:
    """The entry of `search` that `module` imports (or was imported) from; None if absent."""
    loaded = sys.modules.get(module)
    origin = getattr(loaded, "__file__", None)
    if origin is None:
        spec = importlib.machinery.PathFinder.find_spec(module, search)
        if spec is None:
            return None
        origin = spec.origin if spec.has_location else next(iter(
            spec.submodule_search_locations or ()), None)
    inside = [f for f in search if f and origin and within(origin, f)]
    return max(inside, key=len) if inside else os.path.dirname(os.path.dirname(origin or ""))


def within(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or inside it."""
    path, folder = os.path.abspath(path), os.path.abspath(folder)
    return path == folder or path.startswith(os.path.join(folder, ""))


def before_site_packages(folder: str) -> None:
    """Move `folder` (if on sys.path) before the interpreter's own site-packages, where
    Blender puts the extensions' wheels at start-up: after installing an extension it
    appends them instead, so an older copy of a bundled package elsewhere (a Linux
    distribution's, with its Python) would shadow the bundled one until a restart."""
    if folder not in sys.path:
        return
    system = set(site.getsitepackages())
    first = next((k for k, entry in enumerate(sys.path) if entry in system), None)
    if first is not None and sys.path.index(folder) > first:
        sys.path.remove(folder)
        sys.path.insert(first, folder)
        importlib.invalidate_caches()


def missing(folders: Sequence[str] = (), *, required: bool = False) -> list[str]:
    """The distributions of the runtime packages that `status(folders)` does not find; with
    `required`, only those every run needs (not `ONLY_FOR`'s)."""
    return [p.distribution for p in status(folders)
            if not p.present and not (required and p.distribution in ONLY_FOR)]


def install_commands(target: str, platform: str, packages: list[str],
                     python: str = sys.executable) -> list[list[str]]:
    """pip command lines that install `packages` into `target` with `python`.

    torch comes from the index of the chosen compute platform; the rest from PyPI, with
    numpy pinned to the running one so that nothing compiled against another numpy lands.
    """
    urls = {pid: url for pid, _, url in PLATFORMS}
    if platform not in urls:
        raise Dust3rError(f"Unknown compute platform {platform!r}: one of {', '.join(urls)}")
    pip = [python, "-m", "pip", "install", "--upgrade", "--target", target,
           "--disable-pip-version-check", "--no-input", "--progress-bar", "off"]
    commands = []
    if importlib.util.find_spec("pip") is None:
        commands.append([python, "-m", "ensurepip", "--upgrade"])
    if "torch" in packages:
        index = ["--index-url", urls[platform]] if urls[platform] else []
        commands.append(pip + index + ["torch"])
    rest = [p for p in packages if p != "torch"]
    if rest:
        numpy = importlib.metadata.version("numpy") if importlib.util.find_spec("numpy") else None
        commands.append(pip + rest + ([f"numpy=={numpy}"] if numpy else []))
    return commands


def install(commands: list[list[str]], progress: Callable[[str, int, int], None],
            cancel: Callable[[], bool], log: Optional[Callable[[str], None]] = None) -> None:
    """Run the commands one after the other; `Dust3rError` with pip's last words on failure.

    `progress("install", k, n)` before each command; `log(line)` for every output line;
    cancel kills the running pip.
    """
    for k, command in enumerate(commands):
        progress("install", k, len(commands))
        lines: list[str] = []
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, bufsize=1)
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip())
            if log:
                log(line.rstrip())
            if cancel():
                proc.kill()
                proc.wait()
                raise Cancelled()
        if proc.wait() != 0:
            tail = "\n".join(lines[-5:])
            raise Dust3rError(f"Installing failed ({' '.join(command[2:4])} exited with "
                              f"{proc.returncode}):\n{tail}")
    progress("install", len(commands), len(commands))
