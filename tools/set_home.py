"""Say where the kit lives: one setting, rewritten into every badge, setup cell and link.

    python tools/set_home.py                       # print the current setting
    python tools/set_home.py other/fork@v1         # move the kit to github.com/other/fork, ref v1

The setting is ``[tool.kdmeta]`` in ``pyproject.toml``: ``home`` (a GitHub ``owner/name``) and
``ref`` (the tag or commit that the Colab setup cells install, so that a notebook saved to Drive
keeps the library it was written for). This command rewrites, from it:

* each master notebook's Colab badge (``.../github/<home>/blob/<ref>/notebooks/<file>``) and the
  ``KIT = "<home>@<ref>"`` line of its setup cell, then regenerates ``student_notebooks/``;
* every ``github.com/<home>`` link and ``<home>@<ref>`` mention in ``README.md`` and ``docs/``.

``tests/test_notebooks_lint.py`` reads the same setting, so a fork that runs this command keeps a
green test suite. Push the ref (``git tag v1 && git push --tags``) before students open a badge.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOME = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
REF = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]*")
BADGE = re.compile(r"https://colab\.research\.google\.com/github/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+"
                   r"/blob/[A-Za-z0-9_.-]+/(?=notebooks/|student_notebooks/)")
KIT_LINE = re.compile(r'^KIT = "[^"]*"', flags=re.MULTILINE)
SECTION = re.compile(r"^\[tool\.kdmeta\]\n(?:(?!\[).*\n)*", flags=re.MULTILINE)


def current_home(repo: Path = REPO) -> tuple[str, str]:
    """The ``(home, ref)`` pair of ``[tool.kdmeta]`` in ``repo``'s pyproject.toml."""
    text = (repo / "pyproject.toml").read_text(encoding="utf-8")
    section = SECTION.search(text)
    values = dict(re.findall(r'^(home|ref) = "(.*)"$', section.group(0) if section else "",
                             flags=re.MULTILINE))
    if set(values) != {"home", "ref"}:
        raise ValueError(f"{repo / 'pyproject.toml'} has no [tool.kdmeta] home and ref")
    return values["home"], values["ref"]


def parse(target: str) -> tuple[str, str]:
    """``"owner/name@ref"`` → ``("owner/name", "ref")``, or a ValueError that shows the form."""
    home, _, ref = target.partition("@")
    if not HOME.fullmatch(home) or not REF.fullmatch(ref):
        raise ValueError(f"{target!r} is not of the form owner/name@ref (for example "
                         "my-school/kdmeta@v0.2.0, or a commit hash after the @)")
    return home, ref


def rewrite_pyproject(text: str, home: str, ref: str) -> str:
    section = SECTION.search(text)
    if section is None:
        raise ValueError("pyproject.toml has no [tool.kdmeta] table")
    body = re.sub(r'^home = ".*"$', f'home = "{home}"', section.group(0), flags=re.MULTILINE)
    body = re.sub(r'^ref = ".*"$', f'ref = "{ref}"', body, flags=re.MULTILINE)
    return text[:section.start()] + body + text[section.end():]


def rewrite_notebook(text: str, home: str, ref: str) -> str:
    """A master notebook's JSON with its badge and setup-cell KIT line pointed at home@ref."""
    notebook = json.loads(text)
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        source = BADGE.sub(f"https://colab.research.google.com/github/{home}/blob/{ref}/", source)
        source = KIT_LINE.sub(f'KIT = "{home}@{ref}"', source)
        cell["source"] = source.splitlines(keepends=True)
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def rewrite_prose(text: str, old: tuple[str, str], new: tuple[str, str]) -> str:
    """README/docs text with ``<home>@<ref>``, ``github.com/<home>/tree/<ref>`` and links moved."""
    (old_home, old_ref), (home, ref) = old, new
    text = text.replace(f"{old_home}@{old_ref}", f"{home}@{ref}")
    text = text.replace(f"github.com/{old_home}/tree/{old_ref}", f"github.com/{home}/tree/{ref}")
    return text.replace(f"github.com/{old_home}", f"github.com/{home}")


def regenerate_student_notebooks(repo: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_student_notebooks",
                                                  repo / "tools" / "make_student_notebooks.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    generator.main()


def set_home(target: str, repo: Path = REPO) -> list[Path]:
    """Point the kit at ``target`` (``owner/name@ref``); return the files that changed."""
    new, old = parse(target), current_home(repo)
    changed = []

    def update(path: Path, text: str) -> None:
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)

    pyproject = repo / "pyproject.toml"
    update(pyproject, rewrite_pyproject(pyproject.read_text(encoding="utf-8"), *new))
    for path in sorted((repo / "notebooks").glob("*.ipynb")):
        update(path, rewrite_notebook(path.read_text(encoding="utf-8"), *new))
    for path in [repo / "README.md", *sorted((repo / "docs").rglob("*.md"))]:
        update(path, rewrite_prose(path.read_text(encoding="utf-8"), old, new))
    before = {p: p.read_text(encoding="utf-8") for p in (repo / "student_notebooks").glob("*.ipynb")}
    regenerate_student_notebooks(repo)
    changed += [p for p, text in before.items() if p.read_text(encoding="utf-8") != text]
    return changed


def main(argv: list[str]) -> int:
    if not argv:
        home, ref = current_home()
        print(f"the kit lives at {home}@{ref} (https://github.com/{home}/tree/{ref})")
        return 0
    try:
        changed = set_home(argv[0])
    except ValueError as error:
        print(f"set_home: {error}", file=sys.stderr)
        return 2
    for path in changed:
        print(f"updated {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    print(f"the kit now lives at {argv[0]}; push that ref before students open a badge")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
