"""Verification by re-execution: hbench re-runs a claimed result and compares the numbers.

A result file is what the submitter's machine wrote, and such a file can say anything. A
verified row is one hbench ran itself: `verify` installs the plugin the result names into a
fresh virtual environment from what the submission gives (a wheel, an sdist, a plugin folder,
or a pip requirement pinned by ``--hash=sha256:`` or a VCS commit), checks that the installed
code has the source hash the result records, re-runs the official protocol (same suite, task,
model and task options, number of seeds and threads per fit, on grammars freshly drawn from
the operating system, in the sandbox where the worker has one) and compares the claim with the
re-run (`agree`). With a key, the re-run is signed (`hbench.leaderboard.signing`): that signed
re-run is the row a board ranks.

The virtual environment sees the verifier's own packages (a ``.pth`` file adds the running
interpreter's site folders after the environment's own): hbench and its heavy dependencies
(numpy, torch) are the verifier's, and the plugin itself is installed into the environment,
where it shadows any copy installed outside it. Built-in models
ship inside hbench and need no install; they run in the verifier's hbench.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import hbench.progress
from hbench.errors import UsageError

log = logging.getLogger("hbench.leaderboard.verify")
#: The logger of a command's steps (`hbench.cli.logs.STEPS`): one line each off a terminal.
steps = logging.getLogger("hbench.steps")

#: How many combined standard errors two runs of one model may differ by, as a normal
#: quantile (two-sided; with the 7 or so quantities compared, z=3 keeps honest re-runs from
#: failing by chance). The errors of a 5-seed run are themselves estimated from 5 numbers, so
#: the tolerance is Student's t quantile of the same two-sided tail (0.27%) at the comparison's
#: Welch-Satterthwaite degrees of freedom (`agree`): 4.28 errors for two 5-seed runs of equal
#: spread, where 3.0 failed an honest re-run's comparison about one time in 59 (Student's t
#: with 8 degrees of freedom) rather than the normal one in 370.
Z = 3.0
#: Differences below this are rounding, whatever the standard errors (exact references).
FLOOR = 1e-6
#: The distribution of the built-in models (no install needed).
BUILT_IN = "hbench"
#: A pip requirement pinned to one artifact: by hash, or by a VCS commit (40 hex digits).
_PINNED_BY_HASH = re.compile(r"--hash=sha256:[0-9a-fA-F]{64}")
_PINNED_BY_COMMIT = re.compile(r"@\s*\w+\+\S+@[0-9a-fA-F]{40}(#\S*)?$")
_ARCHIVES = (".whl", ".tar.gz", ".zip")


def agree(
    a: float,
    se_a: float,
    b: float,
    se_b: float,
    z: float = Z,
    seeds: tuple[int, int] | None = None,
) -> tuple[bool, float]:
    """Whether two estimates of one quantity agree, and the tolerance used.

    The rule: ``|a - b| <= t * sqrt(se_a**2 + se_b**2) + FLOOR``. Each standard error combines
    the seed-to-seed spread of its run with the test set's binomial error (`uncertainties`);
    the two runs are independent (each drew its own grammars), so their variances add. ``t``
    is `welch_quantile`: ``z`` itself where ``seeds`` (each run's number of seeds) is not
    given or a run has one seed, else Student's t of z's two-sided tail at the
    Welch-Satterthwaite degrees of freedom. NaN on both sides agrees (an undefined number
    stays undefined); NaN on one side does not.
    """
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b), math.nan
    se_a = 0.0 if math.isnan(se_a) else se_a
    se_b = 0.0 if math.isnan(se_b) else se_b
    t = z if seeds is None else welch_quantile(z, se_a, se_b, *seeds)
    tolerance = t * math.sqrt(se_a**2 + se_b**2) + FLOOR
    return abs(a - b) <= tolerance, tolerance


def welch_quantile(z: float, se_a: float, se_b: float, seeds_a: int, seeds_b: int) -> float:
    """Student's t quantile of the normal ``z``'s two-sided tail at the Welch-Satterthwaite
    degrees of freedom of two errors estimated from ``seeds_a`` and ``seeds_b`` seeds:
    (se_a^2 + se_b^2)^2 / (se_a^4 / (seeds_a - 1) + se_b^4 / (seeds_b - 1)). Each error is
    taken as wholly the seeds' (its test-set part has infinite degrees of freedom), which
    errs toward a wider tolerance. ``z`` itself where a run has one seed (its error is the
    test set's alone) or both errors are 0."""
    from scipy import stats as distributions

    from hbench import stats

    if seeds_a < 2 or seeds_b < 2 or se_a == se_b == 0.0:
        return z
    dof = (se_a**2 + se_b**2) ** 2 / (se_a**4 / (seeds_a - 1) + se_b**4 / (seeds_b - 1))
    return stats.quantile(dof, 2.0 * float(distributions.norm.sf(z)))


def _seed_stderr(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1) / len(values))


def uncertainties(result: Any) -> dict[str, tuple[float, float]]:
    """quantity -> (mean, standard error) of the numbers a verification compares: the two
    headline numbers, the normalised accuracy at each in-sample level (``k=j``) and, for a
    task that declares its own headline (``generate``: ``gen_fidelity``), that one too.

    A normalised accuracy's error combines the spread over seeds (std/sqrt(n)) with the test
    set's binomial error, ``acc (1 - acc) / n_queries`` per cell on the normalised scale
    (divided by ``(acc_bp - chance)**2``), averaged over the seeds: with few seeds the spread
    alone can come out near zero by chance. The KL's error is the spread over seeds.
    """
    levels: dict[int, list[tuple[float, float]]] = {}
    for cell in result.metrics:
        if cell.k_test == "ood" or int(cell.k_test) != cell.k_train:
            continue
        if cell.acc is None or cell.acc_bp is None or cell.acc_bp == cell.chance:
            continue
        scale = cell.acc_bp - cell.chance
        score = (cell.acc - cell.chance) / scale
        variance = cell.acc * (1 - cell.acc) / max(cell.n_queries, 1) / scale**2
        levels.setdefault(int(cell.k_test), []).append((score, variance))
    out: dict[str, tuple[float, float]] = {}
    for k, cells in sorted(levels.items()):
        scores = [s for s, _ in cells]
        binomial = math.sqrt(sum(v for _, v in cells)) / len(cells)
        se = math.sqrt(_seed_stderr(scores) ** 2 + binomial**2)
        out[f"k={k}"] = (sum(scores) / len(scores), se)
    head = result.headline
    acc = head["normalised_accuracy"]
    n_seeds = max(len(result.spec.seeds), 1)
    n_levels = max(len(levels), 1)
    binomial = math.sqrt(sum(v for cells in levels.values() for _, v in cells)) / (
        n_levels * n_seeds
    )
    seeds_se = 0.0 if math.isnan(acc["stderr"]) else acc["stderr"]
    out["normalised_accuracy"] = (acc["mean"], math.sqrt(seeds_se**2 + binomial**2))
    out["kl_bp"] = (head["kl_bp"]["mean"], head["kl_bp"]["stderr"])
    out.update(_declared(result))
    return out


def _declared(result: Any) -> dict[str, tuple[float, float]]:
    """The task's own headline where it declares one (`rules.declared_headline`): its mean
    over seeds with the larger of the between-seed and the test-set error
    (`hbench.scoring.metric_headline`), by the metric's name; {} otherwise."""
    from hbench.leaderboard.rules import declared_headline
    from hbench.scoring import metric_headline

    name = declared_headline(result.spec.task)
    if name is None:
        return {}
    try:
        summary = metric_headline(result.metrics, name)
    except ValueError:  # a cell without it: nothing to compare, which the check reports
        return {name: (math.nan, math.nan)}
    return {name: (summary["mean"], summary["se"])}


@dataclass
class Check:
    """One requirement of a verification and whether it held."""

    name: str
    ok: bool
    detail: str


@dataclass
class Verification:
    """What `verify` found: the checks, the compared numbers, the files written."""

    claimed: Path
    claimed_sha256: str
    checks: list[Check] = field(default_factory=list)
    quantities: list[dict[str, Any]] = field(default_factory=list)
    rerun: Path | None = None
    comparison: Path | None = None
    signed: bool = False
    z: float = Z
    #: fits of the re-run that an interrupted attempt of this verification had finished
    resumed: int = 0

    @property
    def verified(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "claimed": {"file": str(self.claimed), "sha256": self.claimed_sha256},
            "rerun": str(self.rerun) if self.rerun else None,
            "z": self.z,
            "rule": "|claimed - rerun| <= t * sqrt(se_claimed^2 + se_rerun^2) + 1e-6, t: Student's"
            " t of z's two-sided tail at the Welch-Satterthwaite degrees of freedom of the"
            " two runs' seeds",
            "checks": [c.__dict__ for c in self.checks],
            "quantities": self.quantities,
            "verified": self.verified,
            "signed": self.signed,
            "resumed_fits": self.resumed,
        }


# --- the plugin's installation -----------------------------------------------------------------


def plugin_kind(spec: str) -> str:
    """ "wheel", "sdist", "folder" or "requirement" for a ``--plugin`` value; a `UsageError`
    unless it names one artifact (a file or folder, or a requirement pinned by hash or by a
    VCS commit), so that what is verified is exactly what was submitted."""
    path = Path(spec)
    if path.is_dir():
        return "folder"
    if path.is_file():
        if spec.endswith(".whl"):
            return "wheel"
        if spec.endswith((".tar.gz", ".zip")):
            return "sdist"
        raise UsageError(
            f"--plugin={spec!r} is invalid: a wheel (.whl) or an sdist (.tar.gz, .zip)"
        )
    if spec.endswith(_ARCHIVES):
        raise UsageError(f"--plugin={spec!r} is invalid: no such file")
    if _PINNED_BY_HASH.search(spec) or _PINNED_BY_COMMIT.search(spec.strip()):
        return "requirement"
    raise UsageError(
        f"--plugin={spec!r} is invalid: a wheel or sdist file, a plugin folder, or a pip"
        " requirement pinned by --hash=sha256:<64 hex> or by a VCS commit"
        " (name @ git+https://...@<40 hex>)"
    )


def _pip(python: Path, *args: str) -> None:
    done = subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", "-q", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise UsageError(f"--plugin: pip could not install it: {tail[0]}")


def make_environment(folder: Path, plugin: str) -> Path:
    """A fresh virtual environment in ``folder`` with ``plugin`` installed into it; its
    interpreter's path. The plugin itself is forced into the environment (``--no-deps
    --force-reinstall``), then its missing dependencies are added (not for a requirement
    pinned by hash: pip's hash-checking mode needs every dependency pinned)."""
    import venv

    kind = plugin_kind(plugin)
    venv.EnvBuilder(system_site_packages=True, with_pip=False, clear=True).create(folder)
    python = folder / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    _see_verifier_packages(python)
    target = str(Path(plugin).resolve()) if kind != "requirement" else plugin
    if kind == "requirement":
        requirements = folder / "plugin-requirement.txt"
        requirements.write_text(plugin + "\n", encoding="utf-8")
        _pip(python, "install", "--no-deps", "--force-reinstall", "-r", str(requirements))
        return python
    _pip(python, "install", "--no-deps", "--force-reinstall", target)
    _pip(python, "install", target)  # an sdist or folder is built as pip builds it for anyone
    return python


def _see_verifier_packages(python: Path) -> None:
    """Let the environment at ``python`` import what this interpreter can (hbench, numpy,
    torch), after its own packages: a ``.pth`` file that adds this interpreter's site folders
    with `site.addsitedir`, so that their own ``.pth`` files (editable installs) work too."""
    import site

    done = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    own = Path(done.stdout.strip())
    folders = [*site.getsitepackages(), site.getusersitepackages()]
    lines = [f"import site; site.addsitedir({str(f)!r})" for f in folders if Path(f).is_dir()]
    (own / "hbench-verifier.pth").write_text("\n".join(lines) + "\n", encoding="utf-8")


_SOURCE = (
    "import json, sys\n"
    "from hbench.results.environment import source_hash\n"
    "print(json.dumps(source_hash(sys.argv[1])))\n"
)


def installed_source(python: Path, distribution: str) -> str | None:
    """The source hash of ``distribution`` as the interpreter ``python`` sees it."""
    done = subprocess.run(
        [str(python), "-c", _SOURCE, distribution], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the re-run --------------------------------------------------------------------------------


def _value(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def rerun_command(
    result: Any, python: str | Path, out: Path, jobs: int | None, quiet: bool = True
) -> list[str]:
    """The ``hbench run --official`` that repeats the claimed run's protocol; ``quiet=False``
    lets it show its progress (a bar on a terminal, a line per finished fit off it) on the
    stderr it shares with the verification: a re-run of a trained model takes an hour."""
    spec = result.spec
    command = [str(python), "-m", "hbench", *(["--quiet"] if quiet else []), "run"]
    command += ["--model", spec.model]
    command += ["--suite", spec.suite_name, "--official", "--out", str(out), "--json"]
    command += ["--threads-per-fit", str(spec.threads or 1)]
    command += ["--device", "cpu" if spec.device == "cpu" else "auto"]
    for key, value in sorted(spec.overrides.items()):
        command += ["--set", f"{key}={_value(value)}"]
    for key, value in sorted(spec.model_settings.items()):
        command += ["--model-arg", f"{key}={_value(value)}"]
    for key, value in sorted(spec.task_config.items()):
        command += ["--task-arg", f"{key}={_value(value)}"]
    if jobs is not None:
        command += ["--jobs", str(jobs)]
    return command


def _run(command: list[str], cwd: Path) -> Path | None:
    """Run ``command`` in the folder ``cwd`` (a scratch folder: the sandbox keeps a worker out
    of its working folder, so the verifier's checkout stays out of the way); the result's path,
    None if the run failed (its error is on stderr)."""
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False, cwd=cwd)
    if done.returncode != 0:
        return None
    written = Path(json.loads(done.stdout)["path"])
    return written if written.is_absolute() else cwd / written


# --- the comparison ----------------------------------------------------------------------------


def _spec_checks(claimed: Any, rerun: Any) -> list[Check]:
    from hbench.leaderboard.comparison import comparison_hash
    from hbench.results.validate import recorded_suite

    a, b = claimed.spec, rerun.spec
    same = {
        "suite": comparison_hash(recorded_suite(claimed)) == comparison_hash(recorded_suite(rerun)),
        "task": a.task == b.task,
        "model": a.model == b.model,
        "model options": a.model_settings == b.model_settings,
        "task options": a.task_config == b.task_config,
        "seeds": len(a.seeds) == len(b.seeds),
        "threads per fit": (a.threads or 1) == (b.threads or 1),
        "official": b.official,
    }
    differing = [name for name, ok in same.items() if not ok]
    return [
        Check(
            "protocol",
            not differing,
            "the re-run repeats the claim's protocol"
            if not differing
            else f"the re-run differs in: {', '.join(differing)}",
        )
    ]


def _sandbox_check(rerun: Any) -> Check:
    """The re-run must have run in the sandbox (a reference model, which sees the grammar
    anyway, may run without)."""
    from hbench.leaderboard.rules import sandbox_kind

    kind = sandbox_kind(rerun)
    record = getattr(rerun, "sandbox", None) or {}
    if kind in (None, "none", "") and not rerun.privileged:
        why = record.get("reason") if isinstance(record, dict) else None
        return Check("sandbox", False, f"the re-run ran without the sandbox ({why or kind})")
    return Check("sandbox", True, f"the re-run's sandbox: {kind}")


def compare_numbers(claimed: Any, rerun: Any, z: float = Z) -> list[dict[str, Any]]:
    """Every compared quantity with both values, their errors, the tolerance and the verdict."""
    a, b = uncertainties(claimed), uncertainties(rerun)
    seeds = (len(claimed.spec.seeds), len(rerun.spec.seeds))
    rows = []
    names = [*(k for k in a if k.startswith("k=")), "normalised_accuracy", "kl_bp"]
    names += [k for k in a if k not in names]  # the task's declared headline (`_declared`)
    for name in names:
        ma, sa = a[name]
        mb, sb = b.get(name, (math.nan, math.nan))
        ok, tolerance = agree(ma, sa, mb, sb, z, seeds)
        rows.append(
            {
                "quantity": name,
                "claimed": _finite(ma),
                "claimed_se": _finite(sa),
                "rerun": _finite(mb),
                "rerun_se": _finite(sb),
                "difference": _finite(mb - ma),
                "tolerance": _finite(tolerance),
                "ok": ok,
            }
        )
    return rows


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else value


def _source_check(claimed: Any, distribution: str, installed: str | None) -> Check:
    recorded = claimed.environment.sources.get(distribution)
    if distribution == BUILT_IN:
        from hbench.registry.registry import get_registry

        registry = get_registry()
        name = claimed.spec.model
        owner = (
            registry.get("model", name).distribution if name in registry.names("model") else None
        )
        if owner != BUILT_IN:
            return Check(
                "source",
                False,
                f"the result says model {name!r} is built into hbench, but here it is"
                f" {'not registered' if owner is None else f'from {owner!r}'}",
            )
        return Check(
            "source",
            True,
            "a built-in model: it runs in the verifier's hbench"
            f" ({installed or 'source not found'})",
        )
    if recorded is None:
        return Check("source", False, f"the result records no source hash for {distribution!r}")
    if installed != recorded:
        return Check(
            "source",
            False,
            f"the installed {distribution!r} has source {installed}, the result records"
            f" {recorded}: not the code that produced it",
        )
    return Check("source", True, f"{distribution} {recorded}")


def verify(
    path: str | Path,
    *,
    plugin: str | None = None,
    out: str | Path = "verified",
    sign_key: str | Path | None = None,
    z: float = Z,
    jobs: int | None = None,
) -> Verification:
    """Re-run the claimed result at ``path`` and compare (see the module docstring).

    Writes the re-run result and ``<re-run>.comparison.json`` into ``out``; with ``sign_key``
    (an ed25519 private key, PEM) a verified re-run is signed in place. Bad arguments raise
    `UsageError` before any work; a claim that fails a check is a `Verification` whose
    ``verified`` is False (no re-run where an earlier check failed).
    """
    from hbench.leaderboard import signing
    from hbench.leaderboard.rules import protocol_problems
    from hbench.leaderboard.tables import model_plugin
    from hbench.results.files import output_folder
    from hbench.results.validate import inspect_file

    if z <= 0 or math.isnan(z):
        raise UsageError(f"--z={z} is invalid: a positive number of standard errors")
    key = signing.load_private_key(sign_key) if sign_key is not None else None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"result file {str(path)!r} cannot be read: {exc}") from None
    report = inspect_file(path)
    if report.result is None:
        raise UsageError(report.problems[0])
    claimed = report.result
    distribution = str(model_plugin(claimed).get("distribution") or BUILT_IN)
    if distribution == BUILT_IN and plugin is not None:
        raise UsageError(
            f"--plugin={plugin!r} is invalid: model {claimed.spec.model!r} is built into hbench;"
            " nothing to install"
        )
    if distribution != BUILT_IN and plugin is None:
        raise UsageError(
            f"--plugin is required: model {claimed.spec.model!r} comes from the distribution"
            f" {distribution!r}; pass its wheel, sdist or pinned requirement"
        )
    if plugin is not None:
        plugin_kind(plugin)
    out = output_folder(Path(out), "out").resolve()
    found = Verification(Path(path), signing.content_hash(data), z=z)
    problems = report.problems + protocol_problems(claimed, filing=False)
    found.checks.append(
        Check(
            "valid",
            not problems,
            "; ".join(problems) or "consistent, official, isolated, audit empty",
        )
    )
    if problems:
        return _write_comparison(found, out, Path(path).stem)
    with tempfile.TemporaryDirectory(prefix="hbench-verify-") as scratch:
        python: Path = Path(sys.executable)
        if plugin is not None:
            python = make_environment(Path(scratch) / "venv", plugin)
        installed = installed_source(python, distribution)
        found.checks.append(_source_check(claimed, distribution, installed))
        if not found.checks[-1].ok:
            return _write_comparison(found, out, Path(path).stem)
        with rerun_folder(out, found.claimed_sha256, Path(path)) as staging:
            spec = claimed.spec
            steps.info(  # a line off a terminal, where no bar shows the hour it takes
                "re-running %s on %s/%s: %d grammars, in %s",
                spec.model,
                spec.suite_name,
                spec.task,
                len(spec.seeds),
                staging,
            )
            command = rerun_command(claimed, python, staging, jobs, quiet=hbench.progress.QUIET)
            written = _run(command, Path(scratch))
            if written is None:  # its finished fits stay, for the same command
                kept = kept_fits(staging)
                why = "the re-run failed (see above)" + (
                    f"; its {kept} finished fits are kept in {staging}, and the same command"
                    " resumes it"
                    if kept
                    else ""
                )
                found.checks.append(Check("re-run", False, why))
                return _write_comparison(found, out, Path(path).stem)
            try:
                _compare(found, claimed, written, out, z, key)
            finally:  # the re-run is finished: nothing to resume
                shutil.rmtree(staging, ignore_errors=True)
    return _write_comparison(found, out, found.rerun.stem)


def _compare(
    found: Verification, claimed: Any, written: Path, out: Path, z: float, key: Any
) -> None:
    """Check the finished re-run at ``written`` against the claim, sign it with ``key`` if it
    agrees, and write it (and what the run wrote beside it) into ``out``; into ``found``."""
    from hbench.io import write_json
    from hbench.leaderboard import signing
    from hbench.leaderboard.submission import submission_name
    from hbench.results import read_result

    rerun = read_result(written)
    found.resumed = len(rerun.extra.get("resumed_fits") or [])
    found.checks += _spec_checks(claimed, rerun)
    found.checks.append(_sandbox_check(rerun))
    found.quantities = compare_numbers(claimed, rerun, z)
    bad = [q["quantity"] for q in found.quantities if not q["ok"]]
    found.checks.append(
        Check(
            "numbers",
            not bad,
            f"outside the tolerance: {', '.join(bad)}"
            if bad
            else "headline and every level within the tolerance",
        )
    )
    rerun_data = json.loads(written.read_text(encoding="utf-8"))
    if key is not None and found.verified:
        rerun_data = signing.sign(
            rerun_data,
            key,
            claimed_sha256=found.claimed_sha256,
            date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            comparison={"z": z, "quantities": found.quantities},
        )
        found.signed = True
    found.rerun = write_json(out / submission_name(read_result_data(rerun_data)), rerun_data)
    for extra in sorted(written.parent.iterdir()):  # saved models, figures
        if extra != written and not extra.name.startswith("."):  # not the lock
            shutil.move(str(extra), str(out / extra.name))


@contextmanager
def rerun_folder(out: Path, claimed_sha256: str, claim: Path) -> Iterator[Path]:
    """Where the re-run of the claim with this hash is written, held for one verification: a
    hidden folder of ``out`` named by the claim, so that a verification interrupted (Ctrl-C,
    SIGTERM, a lost machine) or whose re-run failed keeps the re-run's finished fits there, and
    the same ``hbench verify`` resumes it on the grammars it drew (`hbench.run.journal`) instead
    of starting a run of hours again. A second verification of the same claim into the same
    ``out`` while one runs is refused (a lock in the folder; the OS releases it if the process
    dies). A result file an earlier attempt finished but did not compare (killed in between) is
    removed: an official run is never reused, and it must not be taken for this re-run's."""
    from filelock import FileLock, Timeout

    folder = out / f".rerun-{claimed_sha256[:16]}"
    folder.mkdir(mode=0o700, exist_ok=True)
    lock = FileLock(str(folder / ".lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise UsageError(
            f"another hbench verify of {str(claim)!r} into {str(out)!r} is running (its re-run"
            f" is in {str(folder)!r}); wait for it to finish"
        ) from None
    try:
        for entry in folder.iterdir():
            if not entry.name.startswith("."):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        yield folder
    except BaseException:  # Ctrl-C, SIGTERM: the re-run was killed with its fits kept
        kept = kept_fits(folder)
        if kept:
            log.warning(
                "%d finished fits of the re-run are kept in %s: the same hbench verify resumes it",
                kept,
                folder,
            )
        raise
    finally:
        lock.release()


def kept_fits(folder: Path) -> int:
    """How many finished fits of an interrupted re-run ``folder`` keeps (`hbench.run.journal`)."""
    from hbench.run.journal import PREFIX

    return sum(len(list(kept.glob("s*_k*.json"))) for kept in folder.glob(f"{PREFIX}*"))


def read_result_data(data: dict[str, Any]) -> Any:
    """A `RunResult` from a result file's parsed JSON."""
    from hbench.results import RunResult

    return RunResult.model_validate(data)


def _write_comparison(found: Verification, out: Path, stem: str) -> Verification:
    from hbench.io import write_json

    found.comparison = write_json(out / f"{stem}.comparison.json", found.to_json())
    return found
