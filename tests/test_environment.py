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
