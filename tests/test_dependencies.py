"""Runtime dependency status and the pip-based installer (no network: commands are faked)."""
import subprocess
import sys

import pytest

from core import dependencies
from core.errors import Cancelled, Dust3rError


def test_status_reports_versions_and_torch_build(monkeypatch):
    monkeypatch.setattr(dependencies, "PACKAGES", (("torch", "torch"),
                                                   ("no_such_module_xyz", "no-such-dist")))
    torch, absent = dependencies.status()
    assert torch.present and torch.version.startswith("2.")
    assert not absent.present and dependencies.missing() == ["no-such-dist"]
    assert dependencies.Package("torch", "torch", "2.7.1+cu128").build == "CUDA 12.8"
    assert dependencies.Package("torch", "torch", "2.11.0+cu130").build == "CUDA 13.0"
    assert dependencies.Package("torch", "torch", "2.13.0+cpu").build == "CPU only"


def test_status_looks_in_extra_folders_without_adding_them_to_sys_path(tmp_path, monkeypatch):
    (tmp_path / "fake_dep_xyz").mkdir()
    (tmp_path / "fake_dep_xyz" / "__init__.py").write_text("")
    (tmp_path / "fake_dep_xyz-1.2.3.dist-info").mkdir()
    (tmp_path / "fake_dep_xyz-1.2.3.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fake-dep-xyz\nVersion: 1.2.3\n")
    monkeypatch.setattr(dependencies, "PACKAGES", (("fake_dep_xyz", "fake-dep-xyz"),))
    before = list(sys.path)
    assert dependencies.missing() == ["fake-dep-xyz"]
    [found] = dependencies.status([str(tmp_path)])
    assert found.version == "1.2.3" and dependencies.missing([str(tmp_path)]) == []
    assert sys.path == before


def test_torch_comes_from_the_platform_index_and_numpy_stays_pinned():
    cmds = dependencies.install_commands("/target", "cu126", ["torch", "scipy", "pillow"],
                                         python="/blender/python")
    torch_cmd, rest = cmds[-2], cmds[-1]
    assert torch_cmd[:3] == ["/blender/python", "-m", "pip"]
    assert torch_cmd[torch_cmd.index("--target") + 1] == "/target"
    assert torch_cmd[torch_cmd.index("--index-url") + 1].endswith("/whl/cu126")
    assert torch_cmd[-1] == "torch" and "--index-url" not in rest
    import numpy
    assert rest[-3:] == ["scipy", "pillow", f"numpy=={numpy.__version__}"]
    assert "--index-url" not in dependencies.install_commands("/t", "pypi", ["torch"])[-1]
    with pytest.raises(Dust3rError, match="compute platform"):
        dependencies.install_commands("/t", "rocm", ["torch"])


def test_install_runs_each_command_and_reports_progress():
    steps, lines = [], []
    ok = [sys.executable, "-c", "print('Successfully installed x')"]
    dependencies.install([ok, ok], lambda s, d, t: steps.append((d, t)), lambda: False,
                         lines.append)
    assert steps == [(0, 2), (1, 2), (2, 2)] and lines == ["Successfully installed x"] * 2


def test_a_failing_pip_gives_its_last_words():
    bad = [sys.executable, "-c",
           "import sys; print('ERROR: No matching distribution'); sys.exit(1)"]
    with pytest.raises(Dust3rError, match="No matching distribution"):
        dependencies.install([bad], lambda *a: None, lambda: False)


def test_cancel_kills_the_running_pip():
    slow = [sys.executable, "-u", "-c",
            "import time\nfor i in range(100):\n    print(i, flush=True); time.sleep(0.1)"]
    with pytest.raises(Cancelled):
        dependencies.install([slow], lambda *a: None, lambda: True)


def test_pyyaml_is_needed_because_hub_downloads_import_yaml():
    """huggingface_hub imports yaml on the way to hf_hub_download and try_to_load_from_cache
    (utils/_fixes.py), so pyyaml stays a runtime package (installed with pip, as it is
    binary). When this fails, huggingface_hub no longer needs it: drop it from PACKAGES."""
    def run(code):
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=120)

    imports = "from huggingface_hub import hf_hub_download, try_to_load_from_cache"
    assert run(imports).returncode == 0
    without_yaml = run("import sys; sys.modules['yaml'] = None\n" + imports)
    assert without_yaml.returncode != 0 and "yaml" in without_yaml.stderr.splitlines()[-1]
    assert ("yaml", "pyyaml") in dependencies.PACKAGES


def test_the_wheels_folder_moves_before_the_pythons_own_site_packages(monkeypatch):
    """Blender appends a new extension's wheels to sys.path (at start-up it puts them before
    the site-packages): moved there, the bundled copies win over older ones."""
    monkeypatch.setattr(sys, "path", ["/app", "/lib/python", "/usr/site", "/user", "/wheels"])
    monkeypatch.setattr(dependencies.site, "getsitepackages", lambda: ["/usr/site", "/nope"])
    dependencies.before_site_packages("/wheels")
    assert sys.path == ["/app", "/lib/python", "/wheels", "/usr/site", "/user"]
    dependencies.before_site_packages("/wheels")  # already there: unchanged
    dependencies.before_site_packages("/elsewhere")  # not on sys.path: nothing to move
    assert sys.path == ["/app", "/lib/python", "/wheels", "/usr/site", "/user"]


def test_status_says_which_folder_each_package_comes_from(tmp_path, monkeypatch):
    import importlib
    for folder, version in (("first", "2.0"), ("second", "1.0")):
        pkg = tmp_path / folder / "fake_dep_abc"
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text(f"VERSION = {version!r}\n")
        info = tmp_path / folder / f"fake_dep_abc-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: fake-dep-abc\nVersion: {version}\n")
    monkeypatch.setattr(dependencies, "PACKAGES", (("fake_dep_abc", "fake-dep-abc"),))
    monkeypatch.syspath_prepend(str(tmp_path / "second"))
    [found] = dependencies.status([str(tmp_path / "first")])
    assert (found.version, found.folder) == ("1.0", str(tmp_path / "second"))
    monkeypatch.syspath_prepend(str(tmp_path / "first"))
    importlib.invalidate_caches()
    [found] = dependencies.status()
    assert (found.version, found.folder) == ("2.0", str(tmp_path / "first"))
    # Once imported, a package is what was imported, whatever sys.path says now.
    monkeypatch.delitem(sys.modules, "fake_dep_abc", raising=False)
    assert importlib.import_module("fake_dep_abc").VERSION == "2.0"
    sys.path.remove(str(tmp_path / "first"))
    [found] = dependencies.status()
    assert (found.version, found.folder) == ("2.0", str(tmp_path / "first"))
    del sys.modules["fake_dep_abc"]
