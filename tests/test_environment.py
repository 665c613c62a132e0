"""Binder installs exactly what `make test` tests."""

import pathlib
import re
import tomllib

import yaml

ROOT = pathlib.Path(__file__).parent.parent


def test_environment_yml_installs_the_package_and_nothing_else():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert not (ROOT / "binder").exists(), "a binder/ folder would hide environment.yml"
    # conda gives Python and pip only; everything else comes from pyproject.toml via `-e .`
    assert env["dependencies"] == ["python=3.11", "pip", {"pip": ["-e ."]}], env
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"
    names = {re.split(r"[<>=!~ ]", d)[0] for d in project["dependencies"]}
    assert {"aiortc", "aioice", "python-socketio", "aiohttp", "networkx", "matplotlib",
            "ipywidgets", "jupyterlab", "ipykernel", "numpy"} <= names


PINNED = ("aiortc", "aioice", "python-socketio", "python-engineio", "aiohttp")


def test_the_libraries_whose_internals_talklab_touches_are_pinned_to_what_runs_here():
    from importlib.metadata import version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = dict(d.split("==") for d in project["dependencies"] if "==" in d)
    assert set(PINNED) <= set(pins), pins
    for name in PINNED:
        assert version(name) == pins[name], f"{name} {version(name)} is not the pinned {pins[name]}"


def test_the_version_is_written_once():
    import talklab
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    from importlib.metadata import version
    assert version("talklab") == talklab.__version__


def test_a_wheel_built_from_the_checkout_holds_the_server_inside_the_package(tmp_path):
    import subprocess
    import sys
    import zipfile
    run = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                          "-q", "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    (wheel,) = tmp_path.glob("talklab-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "talklab/server/app.py" in names and "talklab/server/static/index.html" in names
    assert "talklab/_aiortc/nomination.py" in names and "LICENSE" in " ".join(names)
    assert "talklab/views/microphone.js" in names  # (the widget's page half)
    assert not any(n.startswith(("server/", "tests/", "notebooks/", "bench/")) for n in names)


def test_a_plain_checkout_imports_without_installing(tmp_path):
    """``PYTHONPATH=<checkout> python -c 'import talklab.server'`` works (talklab/server is a
    link to the top-level server/ folder)."""
    import shutil
    import subprocess
    import sys
    copy = tmp_path / "checkout"
    shutil.copytree(ROOT, copy, symlinks=True,
                    ignore=shutil.ignore_patterns(".venv", "node_modules", ".git", "*.egg-info"))
    code = "import talklab.server, talklab.lab.lab; print(talklab.server.__file__)"
    env = {"PYTHONPATH": str(copy), "PATH": "/usr/bin"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().startswith(str(copy)), run.stdout


def test_every_package_folder_is_listed_for_setuptools():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(project["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "talklab").rglob("__init__.py")
             if "server" not in p.relative_to(ROOT).parts}
    found |= {"talklab.server." + ".".join(p.parent.relative_to(ROOT / "server").parts)
              for p in (ROOT / "server").rglob("*/__init__.py")}
    found.add("talklab.server")
    assert found <= listed, sorted(found - listed)
