"""The built wheel holds every module of the source tree, under the one lm_gym namespace."""

from __future__ import annotations

import configparser
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _package_dirs() -> dict[str, Path]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    mapping = {}
    for line in config["options"]["package_dir"].strip().splitlines():
        package, folder = (part.strip() for part in line.split("="))
        mapping[package] = ROOT / folder
    return mapping


def _source_modules() -> set[str]:
    modules = set()
    for package, folder in _package_dirs().items():
        for path in folder.rglob("*.py"):
            relative = path.relative_to(folder).with_suffix("")
            modules.add(".".join([package, *relative.parts]))
    return modules


def test_wheel_contains_every_source_module(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("lm_gym-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = {
            name[: -len(".py")].replace("/", ".")
            for name in archive.namelist()
            if name.endswith(".py")
        }
    missing = sorted(_source_modules() - in_wheel)
    assert not missing, f"modules missing from the wheel (list them in setup.cfg): {missing}"
    assert not any(m.startswith(("envs.", "agents.", "baselines.")) for m in in_wheel)


def test_every_package_folder_is_listed_in_setup_cfg():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    listed = set(config["options"]["packages"].split())
    for package, folder in _package_dirs().items():
        for init in folder.rglob("__init__.py"):
            relative = init.parent.relative_to(folder)
            name = ".".join([package, *relative.parts])
            assert name in listed, f"{name} is a package folder but not listed in setup.cfg"


def test_folders_are_not_top_level_packages(tmp_path):
    """Outside the repository, only the lm_gym namespace is importable."""
    code = (
        "import importlib.util, lm_gym.envs, lm_gym.agents, lm_gym.baselines\n"
        "print([n for n in ('envs', 'agents', 'baselines') if importlib.util.find_spec(n)])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
