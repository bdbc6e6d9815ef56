"""pyproject.toml is the single source of truth; environment.yml must say the same."""

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
CONDA_NAMES = {"torch": "pytorch"}  # PyPI name → conda-forge name where they differ


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def split(requirement: str) -> tuple[str, str]:
    name, bound = re.match(r"([A-Za-z0-9_.\-]+)\s*(.*)", requirement).groups()
    return name.lower(), bound.replace(" ", "")


def test_conda_dependencies_match_the_pyproject_ones_with_the_same_bounds():
    project = pyproject()["project"]
    expected = {CONDA_NAMES.get(name, name): bound
                for name, bound in map(split, project["dependencies"])}
    environment = yaml.safe_load((REPO / "environment.yml").read_text())
    conda = dict(split(item) for item in environment["dependencies"] if isinstance(item, str))
    assert conda.pop("python") == project["requires-python"]
    conda.pop("pip")
    assert conda == expected


def test_conda_installs_this_package_with_every_extra_through_pip():
    environment = yaml.safe_load((REPO / "environment.yml").read_text())
    assert environment["channels"] == ["conda-forge"]
    pip_section = next(item["pip"] for item in environment["dependencies"] if isinstance(item, dict))
    extras = sorted(pyproject()["project"]["optional-dependencies"])
    assert pip_section == [f'-e ".[{",".join(extras)}]"']


def test_dependencies_have_lower_bounds_only():
    project = pyproject()["project"]
    requirements = project["dependencies"] + [
        r for extra in project["optional-dependencies"].values() for r in extra]
    for requirement in requirements:
        assert ">=" in requirement and not re.search(r"(==|<|~=|!=)", requirement), requirement


def test_a_non_editable_install_ships_every_subpackage():
    # Colab installs from git without -e: a subpackage left out of the wheel breaks its imports.
    # setuptools' find matches each package's dotted name against the include patterns.
    from fnmatch import fnmatchcase

    include = pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    on_disk = {".".join(p.parent.relative_to(REPO).parts)
               for p in (REPO / "kdmeta_lib").rglob("__init__.py")}
    missing = {name for name in on_disk if not any(fnmatchcase(name, pattern) for pattern in include)}
    assert len(on_disk) > 1 and not missing, f"not in the wheel: {sorted(missing)}"
