"""`python -m demo` (from the repository root): the demo, run inside the add-on package.

The demo drives the add-on's own modules (pipeline, importer), which import each other
relatively, so it loads the repository as the package Blender would (`cli.package()`) and
runs `demo.main` from inside it.
"""
import importlib
import sys

from cli import package

sys.exit(importlib.import_module(f"{package().__name__}.demo.main").main(sys.argv[1:]))
