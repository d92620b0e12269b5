"""Drives the add-on in a real Blender window as a user would (run by tests/gui/session.sh).

    blender --python tests/gui/driver.py -- ZIP PHOTOS OUT

Installs the built zip as Install from Disk does, opens the sidebar's DUSt3R tab with the
mouse, and clicks Reconstruct, Cancel and presses ESC and Ctrl+Z for real (xdotool: the X
server delivers them to Blender like any user's input); Blender's own event loop runs the
modal operator, the timers and the worker thread. The ground-truth predictor of the demo
stands in for the network (`jobs.start` gets it). What it saw goes to OUT/report.json (and
screenshots to OUT/*.png): tests/gui/test_real_window.py reads it. Every step is a
generator step: `yield seconds` hands the UI back to Blender for that long.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
import time
import traceback

import bpy

ZIP, PHOTOS, OUT = sys.argv[sys.argv.index("--") + 1:][:3]
MODULE = "bl_ext.user_default.dust3r_blender"
SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
report: dict = {"blender": bpy.app.version_string, "python": sys.version.split()[0]}


def xdotool(*args) -> None:
    subprocess.run(["xdotool", *map(str, args)], check=True)


def screenshot(name: str) -> None:
    """The whole screen as the user sees it (Blender's own screenshot is black under Xvfb)."""
    subprocess.run(["import", "-window", "root", os.path.join(OUT, f"{name}.png")], check=True)


def window_and_view():
    window = bpy.context.window_manager.windows[0]
    area = next(a for a in window.screen.areas if a.type == "VIEW_3D")
    return window, area


def region(area, kind: str):
    return next(r for r in area.regions if r.type == kind)


def on_screen(window, reg, x: float, y: float) -> tuple[int, int]:
    """Screen pixel of the point (x, y) of a region (Blender: origin bottom left)."""
    return int(window.x + reg.x + x), int(window.height - (reg.y + y) + window.y)


def scene_state() -> dict:
    names = {t: sorted(b.name for b in getattr(bpy.data, t))
             for t in ("objects", "meshes", "cameras", "materials", "node_groups", "images",
                       "collections")}
    return dict(names, camera=bpy.context.scene.camera and bpy.context.scene.camera.name)


def task():
    return bpy.context.window_manager.dust3r.reconstruct


class UiTicks:
    """A 0.1 s timer of the UI's own, for how often the UI gets to run during a run."""

    def __init__(self) -> None:
        self.times: list[float] = []
        bpy.app.timers.register(self.tick, first_interval=0.1)

    def tick(self) -> float:
        self.times.append(time.monotonic())
        return 0.1

    def intervals(self, start: float, end: float) -> list[float]:
        inside = [t for t in self.times if start <= t <= end]
        return [b - a for a, b in zip(inside, inside[1:])]


def find_button(window, reg, command: str, xs, ys):
    """Where the button whose Python command contains `command` is: hover each candidate
    point and press Ctrl+C (over an operator button Blender copies its Python command),
    until the clipboard holds it."""
    wm = bpy.context.window_manager
    for y in ys:
        for x in xs:
            wm.clipboard = ""
            xdotool("mousemove", *on_screen(window, reg, x, y))
            yield 0.08
            xdotool("key", "ctrl+c")
            yield 0.12
            if command in wm.clipboard:
                report.setdefault("buttons", {})[command] = wm.clipboard
                return on_screen(window, reg, x, y)
    raise AssertionError(f"no button runs {command}")


def watch(run: dict, stop_when=None, interval: float = 0.05):
    """Sample the task's status every `interval` until the run has ended (or
    `stop_when()`)."""
    window, _ = window_and_view()
    while True:
        t = task()
        modal = "DUST3R_OT_reconstruct" in [op.bl_idname for op in window.modal_operators]
        run.setdefault("samples", []).append(
            [time.monotonic(), t.running, t.stage, t.done, t.total, modal])
        if stop_when is not None and stop_when():
            return
        if not t.running and run["samples"][-1][0] - run["started"] > 0.5:
            run.update(message=t.message, error=t.error, ended=time.monotonic())
            return
        yield interval


def click(position) -> None:
    xdotool("mousemove", *position)
    xdotool("click", "1")


def steps(ticks: UiTicks):
    window, area = window_and_view()
    view = region(area, "WINDOW")

    # Install from Disk (the operator the Extensions preferences run) and enable.
    with bpy.context.temp_override(window=window):
        bpy.ops.extensions.package_install_files(filepath=ZIP, repo="user_default",
                                                 enable_on_install=True)
    report["enabled"] = MODULE in {a.module for a in bpy.context.preferences.addons}
    tool_prefs = importlib.import_module(MODULE + ".tool.preferences")
    prefs = tool_prefs.preferences()
    tool_prefs.refresh_dependencies(prefs)
    report["dependencies"] = [[p.distribution, p.version, tool_prefs.dependency_source(p)]
                              for p in tool_prefs.dependency_status()]
    yield 0.5

    # The demo's ground-truth predictor in the network's place.
    spec = importlib.util.spec_from_file_location(
        MODULE + ".demo", os.path.join(SRC, "demo", "__init__.py"),
        submodule_search_locations=[os.path.join(SRC, "demo")])
    demo = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = demo
    spec.loader.exec_module(demo)
    oracle = importlib.import_module(MODULE + ".demo.oracle")
    truth = importlib.import_module(MODULE + ".demo.truth").load_ground_truth(PHOTOS)
    jobs = importlib.import_module(MODULE + ".core.jobs")
    start = jobs.start
    jobs.start = lambda params, predictor=None, **kw: start(
        params, oracle.GroundTruthPredictor(truth, noise=0.01), **kw)

    # The sidebar, and its DUSt3R tab: Ctrl+Wheel over the tabs, as a user flips through them.
    area.spaces[0].show_region_ui = True
    yield 0.5
    sidebar = region(area, "UI")
    xdotool("mousemove", *on_screen(window, sidebar, sidebar.width - 8, sidebar.height - 60))
    yield 0.2
    for _ in range(12):
        if sidebar.active_panel_category == "DUSt3R":
            break
        xdotool("keydown", "ctrl", "click", "5", "keyup", "ctrl")
        yield 0.3
    report["tab"] = sidebar.active_panel_category
    bpy.data.objects.remove(bpy.data.objects["Cube"])  # the start-up cube, in the way
    s = bpy.context.scene.dust3r
    s.source, s.folder, s.niter = "FOLDER", PHOTOS, 300
    with bpy.context.temp_override(window=window):
        bpy.ops.ed.undo_push(message="DUSt3R settings")  # as the panel's edits make one
    yield 0.5
    screenshot("panel")
    reconstruct_at = yield from find_button(
        window, sidebar, "dust3r.reconstruct", [sidebar.width * 0.45],
        range(sidebar.height - 20, 20, -10))

    # 1. A reconstruction: the progress goes through the stages, the import lands.
    before = scene_state()
    run = report.setdefault("runs", {}).setdefault("import", {"before": before})
    run["started"] = time.monotonic()
    click(reconstruct_at)
    shot_at = None
    for delay in watch(run):
        if shot_at is None and task().stage == "align" and task().done > 20:
            screenshot("progress")
            shot_at = task().done
        yield delay
    run["after"] = scene_state()
    report["ticks"] = ticks.intervals(run["started"], run["ended"])
    report["color_type"] = area.spaces[0].shading.color_type
    xdotool("mousemove", *on_screen(window, view, view.width * 0.5, view.height * 0.5))
    yield 2.0  # the viewport draws the points
    screenshot("imported")
    # Through the first photo's camera (without its background photo), as the user checks a
    # reconstruction: the points' colours; then as Solid shading's default colour type
    # (Material) would show them.
    bpy.context.scene.camera.data.show_background_images = False
    area.spaces[0].region_3d.view_perspective = "CAMERA"
    yield 2.0
    screenshot("through_camera")
    area.spaces[0].shading.color_type = "MATERIAL"
    yield 2.0
    screenshot("through_camera_material")
    area.spaces[0].shading.color_type = report["color_type"]
    area.spaces[0].region_3d.view_perspective = "PERSP"
    bpy.context.scene.camera.data.show_background_images = True
    yield 0.5

    # Ctrl+Z over the viewport takes the whole import back.
    xdotool("key", "ctrl+z")
    yield 1.0
    report["undo"] = {"before": run["after"], "after": scene_state()}

    # 2. and 3. Runs stopped half way by the Cancel button and by ESC.
    for name in ("cancel_button", "escape"):
        yield 1.0  # the panel redraws Reconstruct enabled before the user clicks it again
        run = report["runs"].setdefault(name, {"before": scene_state()})
        run["started"] = time.monotonic()
        click(reconstruct_at)
        yield from watch(run, lambda: task().running and task().stage == "align"
                         and task().done >= 10)
        if name == "cancel_button":  # at the end of the progress bar's row, below
            below = region_y(window, sidebar, reconstruct_at)
            cancel_at = yield from find_button(
                window, sidebar, "dust3r.cancel", [sidebar.width - d for d in (36, 44, 52)],
                range(int(below) - 14, int(below) - 90, -6))
            click(cancel_at)
        else:
            xdotool("mousemove", *on_screen(window, view, view.width * 0.5, view.height * 0.5))
            xdotool("key", "Escape")
        run["cancelled_at"] = time.monotonic()
        yield from watch(run, interval=0.02)  # often: the worker stops within ~0.5 s
        run["after"] = scene_state()

    # 4. An import that fails on a bug: the panel says so, the console gets the traceback.
    importer = importlib.import_module(MODULE + ".importer")

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a deliberate importer bug (tests/gui/driver.py)")

    importer.import_result = broken
    bpy.context.scene.dust3r.niter = 30  # `s` went with the undo
    yield 1.0
    run = report["runs"].setdefault("failing_import", {"before": scene_state()})
    run["started"] = time.monotonic()
    click(reconstruct_at)
    yield from watch(run)
    run["after"] = scene_state()
    yield 0.5
    screenshot("failed")


def region_y(window, reg, position) -> float:
    """The region's y of a screen position (the inverse of `on_screen`)."""
    return window.height + window.y - position[1] - reg.y


def main() -> None:
    ticks = UiTicks()
    work = steps(ticks)

    def advance():
        try:
            return next(work)
        except StopIteration:
            report["finished"] = True
        except Exception:  # noqa: BLE001 - the report says what went wrong, then Blender quits
            report["driver_error"] = traceback.format_exc()
            print(report["driver_error"], file=sys.stderr)
        with open(os.path.join(OUT, "report.json"), "w") as f:
            json.dump(report, f, indent=1)
        bpy.ops.wm.quit_blender()
        return None

    bpy.app.timers.register(advance, first_interval=1.0)


main()
