"""Dangerous code: what generated code must not do unless the user says it may.

:func:`find_dangers` reads code without running it and returns one
:class:`~frugalflow.core.schemas.ValidationIssue` (check ``"safety"``) per finding, saying what was
found, why it is dangerous, and what to write instead. Validation refuses the code unless the
request sets ``allow_dangerous``. This is a first line that refuses obviously dangerous code
and tells the model why; the sandbox (:mod:`frugalflow.validation.sandbox`) is the real defence.

For Python, from the syntax tree (:mod:`frugalflow.validation.safety.python`), after resolving what names
stand for (:mod:`frugalflow.validation.safety.names`): aliases (``s = os.system``, ``from os import system
as s``, ``sp = subprocess``), hidden imports (``__import__("os")``,
``importlib.import_module("os")``, ``sys.modules["os"]``) and lookups by a literal name
(``getattr(os, "system")``, ``vars(os)["system"]``) are read as the function they reach:

- shell execution: ``subprocess.*(..., shell=True)`` (or ``**options`` that may hold it, or
  ``["sh", "-c", command]`` with a command from input), and ``os.system``, ``os.popen``,
  ``subprocess.getoutput``, ``asyncio.create_subprocess_shell`` with a command from input;
- a program chosen by input: ``subprocess.run(cmd)``, ``subprocess.run([prog, ...])``,
  ``os.exec*``/``os.spawn*`` where the program comes from input. ``subprocess.run(["git",
  "log", branch])`` is not flagged: without a shell, an argument cannot become a command;
- ``eval``/``exec``/``compile`` of anything but a literal string; code made at run time
  (``types.FunctionType``, ``types.CodeType``, ``runpy``, ``code.interact``, loaders);
- hidden and run-time imports: ``__import__``, ``importlib.__import__`` (write ``import``), and
  ``importlib.import_module`` of a computed name; ``importlib.metadata`` is fine;
- indirect access: ``getattr``/``setattr``/``vars``/``__dict__`` on ``os``, ``subprocess``,
  ``builtins`` and other powerful modules, ``__builtins__``, ``globals()[...]`` with a computed
  or dunder key, ``sys.modules[name]``, ``__subclasses__``/``__globals__``/``__code__``/frame
  globals, and ``os.system``, ``subprocess.run``, ``eval``... used as values (``map(os.system,
  commands)``) rather than called. ``getattr(obj, name)`` on other objects is fine;
- native code (``ctypes``, ``cffi``) and network access (``socket``, ``ssl``,
  ``urllib.request``, ``http.client``/``http.server``, ``requests``, ``httpx``, ``aiohttp``,
  ``ftplib``, ``smtplib``, ``paramiko``..., and ``asyncio.open_connection``/``start_server``),
  at the import or at the first use of a module reached otherwise; ``urllib.parse`` is fine;
- processes and privileges: ``os.fork``, ``multiprocessing``, ``ProcessPoolExecutor`` (named
  a fork bomb inside ``while True``), ``os.set*id``/``setgroups``/``chroot``, and
  ``os.chmod``/``chown``/``Path.chmod`` outside a temporary directory;
- deleting files (``os.remove``/``unlink``/``rmdir``/``removedirs``, ``shutil.rmtree``,
  ``Path.unlink``/``rmdir``) unless the path is clearly inside a temporary directory;
- writing (``open``/``Path.open`` in a writing or unknown mode, ``os.open`` with write flags,
  ``Path.write_text``, ``shutil.copy``/``move`` destinations, ``os.makedirs``, ``tarfile``/
  ``zipfile`` in a writing mode...) anywhere but a path the check can show is relative, inside
  a temporary directory, or chosen by the caller (:mod:`frugalflow.validation.safety.paths`). Literal
  pieces are folded first, so ``"/" + "etc"``, ``chr(47)``, ``"".join``, ``bytes.decode``,
  ``base64``, ``rot13``, ``os.sep`` and ``os.path.join`` tricks are read as the path they make;
  flagged are absolute paths outside ``/tmp``, the home directory (``~``, ``Path.home()``,
  ``$HOME``), ``..``, ``.git/``, and paths built in ways the check cannot follow;
- ``pickle.load(s)``, ``marshal.load(s)``, ``yaml.load`` without a safe loader,
  ``yaml.unsafe_load`` on data that comes from input.

"Input" means a function's parameters, ``input()``, ``sys.argv``, ``sys.stdin`` and the
environment, followed through assignments inside the function (a flow-insensitive taint: a
name assigned from input anywhere in the function is input everywhere in it).

Also for Python, these of ruff's flake8-bandit rules (``ruff check --select``), whose false
positives on honest code are rare: S104 binding all interfaces, S201 Flask debug mode, S202
``tarfile.extractall`` of unchecked members, S304/S305 broken ciphers and modes, S306
``tempfile.mktemp``, S323 and S501-S504 disabled TLS verification or old protocol versions,
S505 weak keys, S507 SSH without host key checks, S508/S509 weak SNMP, S601 paramiko shell
commands, S604 ``shell=True`` passed to any other function, S608 SQL built by formatting,
S609 wildcards in shell commands, S610/S611 raw Django SQL, S612 ``logging.config.listen``.
Left out: S101 (``assert`` is not dangerous), S102/S307/S301/S302/S506/S602/S605/S606 (the
analyzer above covers them with fewer false positives: ``eval("1 + 1")``, a pickle of the
program's own cache file and ``os.system("clear")`` are fine), S603/S607 (flag every
``subprocess.run(["git", ...])``), S105-S107 (the secret scan below is more precise), S108
(writing under ``/tmp`` is allowed), S110/S112 (style), S113 (a missing timeout is not a
danger; network access is flagged anyway), S303/S324 (md5 and sha1 checksums are honest), S310,
S312, S321 (network use, flagged above), S311 (``random`` is fine outside cryptography),
S313-S320 and S4xx (flag parsing XML and importing ``subprocess`` or ``pickle``, which honest
code does), S308/S701/S702/S704 (escaping in web templates: a bug, not a danger to the machine).

For every language, secrets in the code (:mod:`frugalflow.validation.safety.secrets`): strings shaped
like OpenAI, Anthropic, Google, GitHub, AWS or Slack keys and private-key blocks, and long
random-looking strings assigned to names ending in ``key``/``token``/``secret`` (or passwords
assigned to ``password``-like names). Messages never repeat a secret: only its first characters.
"""

from __future__ import annotations

import ast
import json
import subprocess

from ruff.__main__ import find_ruff_bin

from frugalflow.core.schemas import ValidationIssue
from frugalflow.validation.safety.python import python_dangers
from frugalflow.validation.safety.secrets import CHECK, find_secrets, secret_assignments
from frugalflow.validation.tools import run_reader

__all__ = ["ALLOWED_NOTE", "CHECK", "REFUSED_HINT", "find_dangers", "find_secrets"]

REFUSED_HINT = (
    "Refused: to accept such code anyway, pass --allow-dangerous on the command line"
    " (allow_dangerous=true in the request)."
)
ALLOWED_NOTE = "Kept because the request allows dangerous code (allow_dangerous)."

RUFF_TIMEOUT_SECONDS = 60
# ruff's code -> (the kind of danger, what to write instead)
RUFF_RULES: dict[str, tuple[str, str]] = {
    "S104": ("network access", "Listen on 127.0.0.1, or let the caller choose the address."),
    "S201": ("remote code execution", "Leave debug off; the debugger runs code sent to it."),
    "S202": ("unsafe archive", "Check each member's path, or pass filter='data'."),
    "S304": ("broken cryptography", "Use AES-GCM or ChaCha20-Poly1305 (cryptography's AEAD)."),
    "S305": ("broken cryptography", "Use an authenticated mode such as GCM."),
    "S306": ("insecure temporary file", "Use tempfile.mkstemp or NamedTemporaryFile."),
    "S323": ("TLS without verification", "Use ssl.create_default_context()."),
    "S501": ("TLS without verification", "Leave certificate verification on."),
    "S502": ("old TLS version", "Use ssl.create_default_context() and its defaults."),
    "S503": ("old TLS version", "Use ssl.create_default_context() and its defaults."),
    "S504": ("old TLS version", "Use ssl.create_default_context() and its defaults."),
    "S505": ("weak key", "Use at least 2048-bit RSA/DSA or 224-bit EC keys."),
    "S507": ("SSH without host key check", "Use RejectPolicy and known host keys."),
    "S508": ("weak SNMP", "Use SNMPv3 with authentication and privacy."),
    "S509": ("weak SNMP", "Use SNMPv3 with authentication and privacy."),
    "S601": ("shell command over SSH", "Pass fixed commands; quote input with shlex.quote."),
    "S604": ("shell=True", "Pass the program and its arguments as a list, without a shell."),
    "S608": ("SQL injection", "Pass values as query parameters (?, %s), not in the string."),
    "S609": ("shell wildcard", "List the files in Python (pathlib.glob) and pass them."),
    "S610": ("SQL injection", "Use the ORM's filters, or parameters."),
    "S611": ("SQL injection", "Use the ORM's filters, or parameters."),
    "S612": ("remote code execution", "Load logging configuration from a file you own."),
}


def find_dangers(code: str, language: str = "python") -> list[ValidationIssue]:
    """Every dangerous construct and secret found in ``code``, in line order.

    Args:
        code: the candidate code.
        language: ``python`` gets the syntax-tree checks and ruff's security rules; every
            language gets the secret scan.

    Returns:
        One issue per finding, check ``"safety"``; empty when nothing was found. Python that
        does not parse gets only the secret scan (syntax errors are reported elsewhere).
    """
    issues = find_secrets(code, language)
    if language == "python":
        try:
            tree = ast.parse(code)
        except SyntaxError:
            pass
        else:
            issues += [
                ValidationIssue(check=CHECK, message=found.message, line=found.line)
                for found in python_dangers(tree)
            ]
            issues += secret_assignments(tree)
            issues += ruff_security_issues(code)
    unique: dict[tuple[int | None, str], ValidationIssue] = {}
    for issue in issues:
        # one finding per line and kind: a key literal assigned to API_KEY is one problem
        kind = issue.message.split(":", 1)[0]
        unique.setdefault((issue.line, kind), issue)
    return sorted(unique.values(), key=lambda issue: (issue.line or 0, issue.message))


def ruff_security_issues(code: str) -> list[ValidationIssue]:
    """Findings of the flake8-bandit rules in :data:`RUFF_RULES`, as safety issues.

    A ruff that cannot run is itself an issue: the check does not pass code it could not read.
    """
    try:
        done = run_reader(
            [
                find_ruff_bin(),
                "check",
                "--isolated",
                "--no-cache",
                "--select",
                ",".join(RUFF_RULES),
                "--output-format",
                "json",
                "--stdin-filename",
                "candidate.py",
                "-",
            ],
            cwd=None,
            stdin=code,
            timeout_seconds=RUFF_TIMEOUT_SECONDS,
        )
        found = json.loads(done.stdout) if done.returncode in (0, 1) else None
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
        found, reason = None, f"{type(exc).__name__}: {exc}"
    else:
        reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    if not isinstance(found, list):
        return [
            ValidationIssue(
                check=CHECK,
                message=(
                    f"safety check incomplete: ruff's security rules could not run ({reason})."
                    " Check that ruff is installed beside frugalflow (pip install ruff), then"
                    " validate again."
                ),
            )
        ]
    issues = []
    for finding in found:
        rule = str(finding.get("code"))
        kind, instead = RUFF_RULES.get(rule, ("security rule", ""))
        issues.append(
            ValidationIssue(
                check=CHECK,
                message=f"{kind}: {finding.get('message')} (ruff {rule}). {instead}".strip(),
                line=(finding.get("location") or {}).get("row"),
            )
        )
    return issues
