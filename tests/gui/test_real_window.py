"""The add-on in a real Blender window (Debian's Blender on Xvfb, software GL), used as a user
uses it: installed from the built zip, the sidebar tab chosen with the mouse, Reconstruct and
Cancel clicked, ESC and Ctrl+Z pressed (tests/gui/driver.py). One session serves every test
(the `window` fixture); its screenshots stay in out/gui/."""
from __future__ import annotations

import re
import statistics

import numpy as np
from PIL import Image

DELIBERATE = "ZeroDivisionError: a deliberate importer bug (tests/gui/driver.py)"


def stages(run: dict) -> list[str]:
    """The stages the panel showed, in order, each once."""
    seen = []
    for _, running, stage, *_ in run["samples"]:
        if running and (not seen or seen[-1] != stage):
            seen.append(stage)
    return seen


def test_blender_ran_the_whole_session_and_quit(window):
    assert window.report.get("finished"), window.report.get("driver_error")
    assert window.returncode == 0, window.console[-3000:]


def test_installed_from_the_zip_the_preferences_list_every_dependency(window):
    report = window.report
    assert report["enabled"]
    listed = {name: (version, source) for name, version, source in report["dependencies"]}
    assert set(listed) == {"torch", "scipy", "pillow", "roma", "safetensors",
                           "huggingface_hub", "pyyaml", "av"}
    assert all(version for version, _ in listed.values()), listed
    # Debian's Blender runs on the system Python: the compiled packages are Debian's, the
    # pure ones bundled with the extension win over Debian's older copies.
    assert listed["roma"][1] == listed["huggingface_hub"][1] == "bundled"
    assert listed["torch"][1].startswith("/usr/lib/python3")


def test_the_sidebar_tab_and_a_reconstruction_through_every_stage(window):
    assert window.report["tab"] == "DUSt3R"
    run = window.run("import")
    seen = stages(run)  # (the ground-truth predictor loads no model; 4 photos load at once)
    order = ["starting", "images", "pairs", "align", "import"]
    assert seen == [stage for stage in order if stage in seen]
    assert {"pairs", "align", "import"} <= set(seen)
    align = [(done, total) for _, running, stage, done, total, _ in run["samples"]
             if running and stage == "align"]
    assert [d for d, _ in align] == sorted(d for d, _ in align) and align[-1] == (300, 300)
    # The operator stays modal while the worker thread runs (it watches for ESC).
    assert all(modal for _, running, stage, *_, modal in run["samples"]
               if running and stage == "align")
    assert run["error"] == "" and run["message"].startswith("4 photos, 12 pairs")
    new = set(run["after"]["objects"]) - set(run["before"]["objects"])
    assert new == {f"00{k} view_0{k}" for k in range(4)} | {
        "DUSt3R photos points", "DUSt3R photos origin"}
    assert run["after"]["camera"] == "000 view_00"  # the first photo's camera is active


def test_ctrl_z_takes_the_import_back(window):
    undo = window.report["undo"]
    assert undo["after"] == window.run("import")["before"]


def test_cancel_and_escape_stop_the_run_and_say_cancelling_until_it_ends(window):
    """The worker goes on reporting its iterations until its next cancel check: the panel
    says "cancelling" from the click (or key) until the run has ended."""
    went_on = []
    for name in ("cancel_button", "escape"):
        run = window.run(name)
        samples = run["samples"]
        # Blender takes the click (or key) on its next event: from then on, "cancelling".
        taken = next(k for k, (t, _, stage, *_) in enumerate(samples)
                     if t >= run["cancelled_at"] and stage == "cancelling")
        assert samples[taken][0] - run["cancelled_at"] < 0.5, name
        after_cancel = [stage for _, running, stage, *_ in samples[taken:] if running]
        assert set(after_cancel) == {"cancelling"}, (name, samples[-8:])
        assert run["message"] == "Cancelled" and run["error"] == "", name
        assert run["after"] == run["before"], name
        done_at_cancel = max(d for t, r, stage, d, *_ in samples
                             if stage == "align" and t <= run["cancelled_at"])
        went_on.append(samples[-1][3] > done_at_cancel)  # its last progress, after the cancel
    assert any(went_on)  # the worker did report progress after a cancel, and it was not shown


def test_a_failing_import_says_so_and_prints_its_traceback(window):
    run = window.run("failing_import")
    assert run["error"] == f"Unexpected error ({DELIBERATE}); details on the system console"
    assert run["after"] == run["before"]
    trace = window.console[window.console.index("Traceback (most recent call last)"):]
    assert DELIBERATE in trace.split("\n\n")[0] or DELIBERATE in trace[:4000]


def test_no_other_python_error_reached_the_console(window):
    tracebacks = window.console.count("Traceback (most recent call last)")
    assert tracebacks == 1, window.console  # the deliberate one
    errors = [line for line in window.console.splitlines()
              if re.search(r"\b(Error|Exception)\b", line) and DELIBERATE not in line
              and "raise ZeroDivisionError" not in line]
    assert errors == [], errors


def test_the_ui_keeps_its_pace_during_a_run(window):
    """A 0.1 s UI timer while the worker aligns: a median interval of at most 0.2 s."""
    ticks = window.report["ticks"]
    assert len(ticks) > 20 and statistics.median(ticks) <= 0.2, sorted(ticks)


def test_the_imported_points_show_their_colours_in_solid_shading(window):
    """After the import the viewport shows the photos' colours in Solid shading, without a
    change of shading by the user: the import set the colour type to Attribute (with
    Blender's default, Material, the same view is grey)."""
    def viewport(name: str) -> np.ndarray:
        rgb = np.asarray(Image.open(window.out / f"{name}.png").convert("RGB"), np.int16)
        return rgb[100:800, 60:1000]  # the 3D viewport, left of the sidebar

    def saturated(rgb: np.ndarray) -> np.ndarray:
        return rgb.max(-1) - rgb.min(-1) > 40

    assert window.report["color_type"] == "VERTEX"  # "Attribute" in the shading popover
    attribute, material = viewport("through_camera"), viewport("through_camera_material")
    cloud = np.abs(attribute - material).max(-1) > 0  # where the points are drawn
    assert cloud.mean() > 0.1
    colourful, grey = saturated(attribute)[cloud].mean(), saturated(material)[cloud].mean()
    assert colourful > 0.05 and colourful > 10 * grey, (colourful, grey)
