"""The autograder's command line: parses arguments and calls one ``main(...)`` per subcommand."""

from __future__ import annotations

import argparse
from pathlib import Path

from autograder import registry


def _at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is below {low}")
        return value

    return parse


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} seconds: give a positive, finite number")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autograder", description="The course's autograder.")
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="run every check against the reference (must pass) and the stubs "
                                         "(must say 'not implemented')")
    v.add_argument("assignments", nargs="*", metavar="ASSIGNMENT",
                   help=f"assignments to validate (default: all: {', '.join(registry.NAMES)})")
    v.add_argument("--profile", default="grading", choices=["grading", "dev", "ci"],
                   help="Hypothesis settings profile (default: grading)")
    v.add_argument("--no-training", dest="training", action="store_false",
                   help="skip the reference's training runs against the accuracy goals (mnist-sample)")
    g = sub.add_parser("grade", help="grade a class: each submission in its own sandbox, into a gradebook")
    g.add_argument("submitted", help="nbgrader's submitted/ folder (submitted/<student>/<assignment>/*.ipynb) or a course root")
    g.add_argument("--assignment", action="append", choices=list(registry.NAMES),
                   help="assignment to grade (repeat for several; default: every assignment of the course "
                        "that has a submission in SUBMITTED)")
    g.add_argument("--out", required=True, help="folder for grades.csv and per-student results")
    g.add_argument("--jobs", type=_at_least(1), default=1, help="submissions graded in parallel (default: 1)")
    g.add_argument("--timeout", type=_positive_seconds, default=20.0,
                   help="seconds allowed per call of a student's function (default: 20)")
    g.add_argument("--force", action="store_true", help="grade every submission again, even those whose results "
                                                        "are up to date (by default only new or changed ones are graded)")
    g.add_argument("--student", action="append", metavar="NAME",
                   help="grade again this student's submissions, and only theirs (repeat for several)")
    g.add_argument("--roster", default=None, metavar="CSV",
                   help="the class list (nbgrader's student CSV: id,first_name,last_name,email): every student "
                        "on it gets a row, 'no submission' when they have none (default: the students of "
                        "--nbgrader-db, else those who submitted)")
    g.add_argument("--due", action="append", metavar="ASSIGNMENT=WHEN",
                   help="due date of an assignment for a course without an nbgrader gradebook, e.g. "
                        "tp1_perceptron='2026-12-01 23:59 Europe/Paris' (with --nbgrader-db the due dates "
                        "and extensions are the gradebook's); the late policy is the course's nbgrader_config.py")
    g.add_argument("--dataset", default="mnist-sample", choices=["mnist-sample", "mnist", "cifar10"],
                   help="dataset of the accuracy-threshold runs (default: mnist-sample, offline; "
                        "mnist and cifar10 read the official files under the data root; cifar10 is "
                        "tp4_cnn's, with --device cuda)")
    g.add_argument("--data-root", default=None, help="folder holding the dataset files (default: $TP_DATA_ROOT, "
                                                     "else ~/.cache/tp-data)")
    g.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help="cuda: also run the training checks that need a GPU (deferred on cpu)")
    g.add_argument("--lang", default=None, choices=["fr", "en"],
                   help="language of the students' messages (default: $TPCHECK_LANG, else fr; tpcheck.messages)")
    g.add_argument("--nbgrader-db", default=None, metavar="DB",
                   help="also write the scores into this nbgrader gradebook (a gradebook.db path or an "
                        "SQLAlchemy URL), for formgrader and `nbgrader export`")
    g.add_argument("--unsafe-no-sandbox", action="store_true",
                   help="run students' code without bubblewrap (only where it cannot be installed; never for untrusted code)")
    _cluster_options(g)
    r = sub.add_parser("release", help="generate student_template/ from assignments/source/ (nbgrader): the notebooks, "
                                        "their example banks, the tpcheck wheel, requirements.txt and README.md")
    r.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="assignments to release (default: all with a source)")
    r.add_argument("--course", default=None, metavar="DIR",
                   help="the nbgrader course folder to release from (default: assignments/)")
    r.add_argument("--out", default=None, metavar="DIR", help="folder to write the release into (default: student_template/)")
    sub.add_parser("sync", help="rewrite the notebooks' solution cells from the reference")
    return parser


def _cluster_options(g) -> None:
    """``grade``'s options for grading on a Slurm cluster (:mod:`autograder.stages.cluster`)."""
    c = g.add_argument_group("cluster", "grade on a Slurm cluster through submitit (OUT and the virtualenv on a "
                                        "file system the nodes share)")
    c.add_argument("--executor", default="local", choices=["local", "slurm"],
                   help="local: a pool of --jobs workers here (default); slurm: job arrays on the cluster")
    c.add_argument("--partition", default=None, help="Slurm partition of the jobs (default: the cluster's)")
    c.add_argument("--gpus-per-job", type=_at_least(0), default=1,
                   help="GPUs requested by each task that trains on a GPU (tp4_cnn with --device cuda; default: 1)")
    c.add_argument("--array-parallelism", type=_at_least(1), default=None, metavar="K",
                   help="at most K tasks of an array running at once (default: as many as Slurm allows)")
    c.add_argument("--chunk", type=_at_least(1), default=8, metavar="N",
                   help="submissions graded by one task, one after another (--jobs at a time; default: 8)")
    c.add_argument("--slurm-setup", action="append", default=[], metavar="COMMAND",
                   help="shell line run in each job before grading, e.g. 'module load cuda' (repeat for several)")


def cluster_executor(args, out):
    """The :class:`autograder.stages.cluster.Slurm` executor for ``--executor slurm``, or None."""
    if getattr(args, "executor", "local") != "slurm":
        return None
    from autograder.stages.cluster import Slurm

    return Slurm(out / ".slurm", partition=args.partition, gpus_per_job=args.gpus_per_job,
                 array_parallelism=args.array_parallelism, chunk=args.chunk, setup=args.slurm_setup, jobs=args.jobs)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    torch.set_num_threads(1)  # checks use tiny tensors: threads only add synchronisation
    if args.command == "validate":
        from autograder.course import validate

        unknown = [a for a in args.assignments if a not in registry.NAMES]
        if unknown:
            build_parser().error(f"unknown assignment(s) {', '.join(unknown)}: choose from {', '.join(registry.NAMES)}")
        return validate.main(assignments=args.assignments or None, profile=args.profile, training=args.training)
    if args.command == "grade":
        return grade_main(args)
    if args.command == "release":
        from autograder.course import release

        return release.main(assignments=args.assignments or None,
                            course=Path(args.course) if args.course else registry.COURSE,
                            out=Path(args.out) if args.out else registry.TEMPLATE)
    if args.command == "sync":
        from autograder.course import sync as sources

        changed = sources.sync(registry.COURSE)
        print("\n".join(f"updated {p}" for p in changed) or "solution cells already match the reference")
        return 0
    return 2


def grade_main(args) -> int:
    import os
    import sys
    from pathlib import Path

    from autograder.stages.sandbox import Limits, bwrap_available

    submitted, out = Path(args.submitted), Path(args.out)
    if args.lang:  # the environment carries it to the pool's workers (not to the sandbox: it starts empty)
        os.environ["TPCHECK_LANG"] = args.lang
        from tpcheck.messages import set_language

        set_language(args.lang)
    if not submitted.is_dir():
        print(f"error: {submitted} is not a folder", file=sys.stderr)
        return 2
    if not args.assignment:
        from autograder.stages.find import find_submissions

        args.assignment = [name for name in registry.NAMES if find_submissions(submitted, name)]
        if not args.assignment:
            print(f"error: no submission of any assignment ({', '.join(registry.NAMES)}) in {submitted}: expected "
                  f"nbgrader's layout submitted/<student>/<assignment>/<notebook>.ipynb", file=sys.stderr)
            return 2
    if refusal := class_refusal(submitted, args.assignment, args.dataset, args.device):
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    if refusal := out_refusal(out):
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    if not args.unsafe_no_sandbox and not bwrap_available():
        print("error: bubblewrap (bwrap) is missing or cannot create namespaces here; install it "
              "(apt-get install bubblewrap) or pass --unsafe-no-sandbox explicitly", file=sys.stderr)
        return 2
    if args.device == "cuda" and args.executor == "local":  # on a cluster: on the node
        import torch

        if not torch.cuda.is_available():
            print("error: --device cuda: no CUDA GPU is visible on this machine", file=sys.stderr)
            return 2

    try:
        roster, schedule, policy = class_setup(args, submitted)
    except ValueError as e:  # RosterError, LateError: one line
        print(f"error: {e}", file=sys.stderr)
        return 2
    limits = Limits(call_seconds=args.timeout)
    lock = _lock(out)
    if lock is None:
        print(f"error: another grading run is writing to {out} (its lock {out / LOCK_FILE} is held); "
              f"wait for it, or give another --out", file=sys.stderr)
        return 2
    try:
        return _grade_locked(args, submitted, out, roster, schedule, policy, limits)
    finally:
        os.close(lock)  # released for a caller in the same process too (a test, a notebook)


def _grade_locked(args, submitted, out, roster, schedule, policy, limits) -> int:
    """``grade_main``'s work, with the lock on ``out`` held."""
    import sys

    from autograder.grade import ClassError, grade_class
    from autograder.stages.cluster import ClusterError
    from tpcheck.data import DataError

    try:
        graded = grade_class(submitted, args.assignment, out, jobs=args.jobs, force=args.force,
                             limits=limits, unsafe=args.unsafe_no_sandbox, dataset=args.dataset,
                             data_root=args.data_root, device=args.device, students=args.student,
                             roster=roster, schedule=schedule, policy=policy, executor=cluster_executor(args, out))
    except (DataError, ClassError, ClusterError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        from autograder.stages.store import RESULT_FILE

        kept = sum(1 for _ in out.glob(f"*/*/{RESULT_FILE}"))
        print(f"interrupted: {kept} graded submission(s) kept in {out}; the same command grades the rest",
              file=sys.stderr)
        return 130
    if args.nbgrader_db:
        from autograder.stages.gradebook import GradebookError, write_scores

        url = db_url(args.nbgrader_db)
        try:
            print(f"nbgrader gradebook: {write_scores(url, graded)} submission(s) written to {args.nbgrader_db}")
            from autograder.results import NO_SUBMISSION
            from autograder.stages.nbgrader_files import course_of, write_nbgrader_files

            if (course := course_of(submitted)) is not None:  # autograded/ and feedback/ for formgrader and nbgrader
                # the submissions graded now, and reused ones that never got their files (an earlier run
                # without --nbgrader-db): rewriting the others would undo formgrader's flags and pages
                fresh = [g for g in graded if (g.student, g.assignment) in graded.fresh
                         or g.error != NO_SUBMISSION and not (course / "autograded" / g.student / g.assignment).is_dir()]
                print("".join(f"nbgrader: {line}\n" for line in write_nbgrader_files(course, url, fresh, out)), end="")
        except GradebookError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    width = max([len(g.student) for g in graded] + [7])
    print(f"{'student':<{width}}  {'assignment':<16} {'score':>11}  {'trained':>8}  notes")
    for g in sorted(graded, key=lambda g: (g.assignment, g.student)):
        note = g.error or "; ".join(g.notes)
        if g.late:
            from autograder.stages.late import lateness

            note = f"{lateness(g.seconds_late)}, -{g.penalty:g} points" + (f"; {note}" if note else "")
        print(f"{g.student:<{width}}  {g.assignment:<16} {g.score:>5g}/{g.max_score:<5g}  {_trained(g):>8}  {note[:70]}")
    print(graded.summary())
    print(f"gradebook: {out / 'grades.csv'}\nclass report: {out / 'report.html'}\n"
          f"per student: {out}/<student>/<assignment>/feedback.html (and results.json, Gradescope's format)")
    return 0


def class_setup(args, submitted):
    """The roster, the due dates and the late policy of this run, from its options and the course
    (:mod:`autograder.stages.roster`, :mod:`autograder.stages.late`); ValueError: one line."""
    from autograder.stages import late
    from autograder.stages import roster as rosters

    url = db_url(args.nbgrader_db) if args.nbgrader_db else None
    if url and "://" not in args.nbgrader_db and not Path(args.nbgrader_db).is_file():
        raise ValueError(f"--nbgrader-db {args.nbgrader_db}: no such gradebook (nbgrader generate_assignment "
                         f"creates it in the course folder)")
    roster = rosters.read_csv(Path(args.roster)) if args.roster else None
    schedule = late.schedule_from_options(args.due)
    if url:
        if roster is None:
            roster = rosters.read_gradebook(url) or None  # an empty gradebook: those who submitted
        book = late.schedule_from_gradebook(url)
        clash = sorted(set(book.due) & set(schedule.due))
        if clash:
            raise ValueError(f"--due {clash[0]}: its due date is in the gradebook ({late.iso(book.due[clash[0]])}); "
                             f"change it there (nbgrader db assignment add {clash[0]} --duedate=...), not here")
        book.due.update(schedule.due)
        schedule = book
    return roster, schedule, late.Policy(late.course_root(submitted))


def db_url(option: str) -> str:
    """``--nbgrader-db``: an SQLAlchemy URL as given, a path as an sqlite URL."""
    return option if "://" in option else f"sqlite:///{Path(option).resolve()}"


def class_refusal(submitted, assignments: list[str], dataset: str, device: str) -> str:
    """Why this class cannot be graded as asked (one line), or "" when it can."""
    from autograder import checks
    from autograder.stages.find import find_submissions

    root = submitted / "submitted" if (submitted / "submitted").is_dir() else submitted
    if root.name == "source" or (root / "source").is_dir() and not (submitted / "submitted").is_dir():
        return (f"{submitted} looks like nbgrader's source/ folder (the instructor's notebooks), not the "
                f"submissions: give the submitted/ folder (submitted/<student>/<assignment>/*.ipynb)")
    for name in assignments:
        spec = checks.load(name).threshold
        deferred = spec is not None and spec.device == "cuda" and device != "cuda"
        if spec is not None and dataset not in spec.budgets and not deferred:
            return (f"--dataset {dataset}: {name} has no training budget for it; choose one of "
                    f"{', '.join(sorted(spec.budgets))}")
    if not any(find_submissions(submitted, name) for name in assignments):
        return (f"no submission of {', '.join(assignments)} in {submitted}: expected nbgrader's layout "
                f"{root}/<student>/<assignment>/<notebook>.ipynb")
    return ""


LOCK_FILE = ".grading.lock"


def _lock(out):
    """An exclusive lock on ``out`` for this run (released when the process ends, however it
    ends), or None when another run holds it: two runs never write the same results at once."""
    import fcntl
    import os

    fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def out_refusal(out) -> str:
    """Why results cannot be written under ``out`` (checked before grading starts), or ""."""
    import os
    import tempfile

    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as e:
        return f"--out {out}: cannot write there ({e.strerror or type(e).__name__})"
    if not os.access(out, os.W_OK | os.X_OK):
        return f"--out {out}: cannot write there"
    return ""


def _trained(graded) -> str:
    """The threshold run in one word: its test accuracy, "deferred" or "-" (not run)."""
    from autograder.stages.threshold import FUNCTION

    run = next((r for r in graded.results if r.function == FUNCTION), None)
    if run is None:
        return ""
    if "accuracy" in run.details:
        return f"{run.details['accuracy']:.3f}"
    return run.status if run.status == "deferred" else "-"
