"""The output path is checked before any work: every way it can fail is named, nothing is
written."""
import os
import subprocess

import pytest

from core.destination import check_destination
from core.errors import Dust3rError


def test_a_writable_path_is_returned_absolute_and_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert check_destination("sub/dir/scene.blend", (".blend",)) == tmp_path / "sub/dir/scene.blend"
    (tmp_path / "old.blend").write_text("old")
    assert check_destination(tmp_path / "old.blend", (".blend",)) == tmp_path / "old.blend"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.blend"]
    assert (tmp_path / "old.blend").read_text() == "old"


@pytest.mark.parametrize("make, message", [
    (lambda t: t / "scene.obj", "must be a .blend file"),
    (lambda t: (t / "x.blend").mkdir() or t / "x.blend", "a folder of that name exists"),
    (lambda t: [(t / "f").write_text("x"), t / "f" / "x.blend"][1], "is a file, not a folder"),
    (lambda t: [(t / "f").write_text("x"), t / "f" / "deeper" / "x.blend"][1],
     "is a file, not a folder"),
    (lambda t: os.mkfifo(t / "p.blend") or t / "p.blend", "not a regular file"),
])
def test_paths_that_cannot_be_written_are_named(tmp_path, make, message):
    with pytest.raises(Dust3rError, match=message):
        check_destination(make(tmp_path), (".blend",))


def chattr(path, flag) -> bool:
    return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0


@pytest.mark.parametrize("locked", ["folder", "file"])
def test_an_immutable_folder_or_file_is_refused(tmp_path, locked):
    target = tmp_path / "scene.blend"
    if locked == "file":
        target.write_text("keep me")
    path = target if locked == "file" else tmp_path
    if not chattr(path, "+i"):
        pytest.skip("chattr +i is not available here")
    try:
        with pytest.raises(Dust3rError, match="not writable" if locked == "folder"
                           else "Cannot replace"):
            check_destination(target, (".blend",))
    finally:
        chattr(path, "-i")


def test_an_export_folder_may_be_new_empty_or_an_earlier_export(tmp_path):
    from core.destination import EXPORT_MARKER, check_export_folder

    assert check_export_folder(tmp_path / "new" / "colmap") == tmp_path / "new" / "colmap"
    (tmp_path / "empty").mkdir()
    assert check_export_folder(tmp_path / "empty") == tmp_path / "empty"
    (tmp_path / "earlier").mkdir()
    (tmp_path / "earlier" / EXPORT_MARKER).write_text("{}")
    (tmp_path / "earlier" / "images").mkdir()
    assert check_export_folder(tmp_path / "earlier") == tmp_path / "earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["earlier", "empty"]  # nothing new


@pytest.mark.parametrize("make, message", [
    (lambda t: [(t / "mine").mkdir(), (t / "mine" / "a.jpg").write_text("x"), t / "mine"][2],
     "holds files that are not a DUSt3R export"),
    (lambda t: [(t / "f").write_text("x"), t / "f"][1], "a file of that name exists"),
    (lambda t: [(t / "f").write_text("x"), t / "f" / "colmap"][1], "is a file, not a folder"),
])
def test_export_folders_that_cannot_be_written_are_named(tmp_path, make, message):
    from core.destination import check_export_folder

    with pytest.raises(Dust3rError, match=message):
        check_export_folder(make(tmp_path))
