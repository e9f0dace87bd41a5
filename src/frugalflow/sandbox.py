"""Running untrusted Python: a child process that cannot reach the network, the user's files
by relative path, the parent's secrets, or more than its share of time and memory.

What :func:`run_python` gives the child:

- a working directory of its own holding copies of exactly the files it is given (never the
  user's repository), which is its current directory;
- an environment of ``PATH`` and ``PYTHONDONTWRITEBYTECODE`` only: no API keys, no proxies;
- ``python -I`` (no user site, no ``PYTHON*`` variables, no script directory on ``sys.path``);
- limits set before any untrusted code runs: address space (``RLIMIT_AS``, the memory
  setting), CPU seconds (``RLIMIT_CPU``), and the size of files it writes (``RLIMIT_FSIZE``);
- a wall-clock limit, after which its whole process group is killed (at the end of every run,
  too, so that nothing it started outlives it);
- when the machine allows it, new network and PID namespaces (``unshare --net --pid --fork
  --kill-child``, or with ``--user --map-root-user`` when not root): the child sees only a
  loopback interface that is down, so every connection fails, even to ``127.0.0.1``, and
  when the run ends every process it started dies with the namespace, including any that left
  the process group. :func:`isolation_command` probes this once per process.

:attr:`SandboxRun.isolation` says which of the two ran: ``"netns"`` or ``"no-netns"`` (no
``unshare``, or the kernel refused the namespaces: the network is then reachable).

Not isolated: the filesystem. The child runs as the same user as frugalflow and can read (and,
if permissions allow, write) files by absolute path.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

NETNS = "netns"
NO_NETNS = "no-netns"
FILE_SIZE_LIMIT_BYTES = 64 << 20
_OUTPUT_TAIL_BYTES = 4000
_PROBE_TIMEOUT_SECONDS = 10

# Runs first in the child: the limits hold before the runner (and the code it runs) starts.
_BOOTSTRAP = """\
import resource, runpy, sys
memory, cpu, fsize = (int(value) for value in sys.argv[1:4])
resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
sys.argv = sys.argv[4:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@dataclass(frozen=True)
class SandboxRun:
    """How a sandboxed run ended.

    Attributes:
        workdir: the child's directory, holding whatever files it wrote.
        isolation: ``"netns"`` or ``"no-netns"``.
        timed_out: the wall-clock limit ended it.
        returncode: its exit status (negative: killed by that signal).
        stderr: the end of what it wrote to standard error.
    """

    workdir: Path
    isolation: str
    timed_out: bool
    returncode: int | None
    stderr: str


@functools.cache
def isolation_command() -> tuple[str, ...]:
    """The command prefix that runs a program in new network, PID and mount namespaces, or
    ``()``.

    Tried once per process: ``unshare`` as is (root), then with a user namespace (any user,
    where the kernel allows unprivileged user namespaces). A prefix counts only if running
    ``true`` under it succeeds.
    """
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    # A new mount namespace with its own /proc: the child sees only its own processes, so it
    # cannot read the parent's environment (API keys) through /proc/<pid>/environ.
    namespaces = ("--net", "--pid", "--fork", "--kill-child", "--mount", "--mount-proc")
    for prefix in ((unshare, *namespaces), (unshare, "--user", "--map-root-user", *namespaces)):
        try:
            done = subprocess.run(
                [*prefix, "true"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=_PROBE_TIMEOUT_SECONDS,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if done.returncode == 0:
            return prefix
    return ()


def stripped_environment() -> dict[str, str]:
    """The only variables a sandboxed child gets."""
    return {"PATH": os.environ.get("PATH") or os.defpath, "PYTHONDONTWRITEBYTECODE": "1"}


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - _OUTPUT_TAIL_BYTES))
            return handle.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def run_python(
    script: str,
    workdir: Path,
    *,
    files: Mapping[str, str],
    timeout_seconds: float,
    memory_mb: int,
) -> SandboxRun:
    """Run ``script`` with Python in a sandbox, in ``workdir``, beside copies of ``files``.

    Args:
        script: the trusted driver (it runs the untrusted code it finds in ``files``).
        workdir: the child's private directory; created, and its files overwritten.
        files: file name -> text, written into ``workdir`` before the run.
        timeout_seconds: wall-clock limit; the CPU limit is the same, rounded up.
        memory_mb: address-space limit.

    Returns:
        How it ended; results are whatever files the script wrote into ``workdir``.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    for name, text in {**files, "_sandbox_main.py": script}.items():
        (workdir / name).parent.mkdir(parents=True, exist_ok=True)
        (workdir / name).write_text(text)
    prefix = isolation_command()
    limits = (memory_mb << 20, int(timeout_seconds) + 1, FILE_SIZE_LIMIT_BYTES)
    command = [
        *prefix,
        sys.executable,
        "-I",
        "-c",
        _BOOTSTRAP,
        *(str(limit) for limit in limits),
        "_sandbox_main.py",
    ]
    stderr_file = workdir / "_sandbox_stderr.txt"
    with (workdir / "_sandbox_stdout.txt").open("wb") as out, stderr_file.open("wb") as err:
        child = subprocess.Popen(
            command,
            cwd=workdir,
            env=stripped_environment(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,  # its own process group, killed as a whole below
        )
        timed_out = False
        try:
            child.wait(timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    return SandboxRun(
        workdir=workdir,
        isolation=NETNS if prefix else NO_NETNS,
        timed_out=timed_out,
        returncode=None if timed_out else child.returncode,
        stderr=_tail(stderr_file),
    )
