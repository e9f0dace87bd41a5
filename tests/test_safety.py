"""Static safety checks: dangerous calls and secrets, what is flagged and what is not."""

from __future__ import annotations

import pytest

from frugalflow.validation.safety.check import find_dangers

# Key-shaped test strings are assembled so that this file itself holds no key-shaped literal.
OPENAI_KEY = "sk-" + "Zq8Wm2Lr5Tx9Kp3Vn7Bc4Hd6"
ANTHROPIC_KEY = "sk-ant-" + "api03-" + "Zq8Wm2Lr5Tx9Kp3Vn7"
GOOGLE_KEY = "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"
GITHUB_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE".replace("EXAMPLE", "ABCDEFG")


def messages(code: str, language: str = "python") -> list[str]:
    return [issue.message for issue in find_dangers(code, language)]


DANGEROUS = {
    "shell=True with a parameter": (
        "import subprocess\ndef run(cmd):\n    return subprocess.run(cmd, shell=True)\n",
        "shell=True",
        "command injection",
    ),
    "shell=True with an f-string": (
        "import subprocess as sp\ndef ls(d):\n    sp.check_output(f'ls {d}', shell=True)\n",
        "shell=True",
        "the parameter `d`",
    ),
    "shell=True even with a constant": (
        "import subprocess\ndef go():\n    subprocess.call('ls', shell=True)\n",
        "shell=True",
        "Pass the program and its arguments as a list",
    ),
    "os.system with concatenation": (
        "import os\ndef rm(name):\n    os.system('rm ' + name)\n",
        "shell command built from input",
        "the parameter `name`",
    ),
    "os.popen through a local variable": (
        "from os import popen\ndef grep(word):\n    command = 'grep ' + word\n    popen(command)\n",
        "shell command built from input",
        "`command`, built from input",
    ),
    "program from a parameter": (
        "import subprocess\ndef start(program):\n    subprocess.Popen([program, '--help'])\n",
        "program chosen by input",
        "`program`",
    ),
    "program from the environment": (
        "import os, subprocess\ndef edit():\n    subprocess.run(os.environ['EDITOR'])\n",
        "program chosen by input",
        "os.environ",
    ),
    "eval of input": (
        "def calc(user_input):\n    return eval(user_input)\n",
        "eval of a non-constant value",
        "the parameter `user_input`",
    ),
    "exec of a module constant": (
        "CODE = 'x = 1'\ndef run():\n    exec(CODE)\n",
        "exec of a non-constant value",
        "ast.literal_eval",
    ),
    "rmtree of a parameter": (
        "import shutil\ndef clean(path):\n    shutil.rmtree(path)\n",
        "file deletion",
        "`path`",
    ),
    "Path.unlink of a parameter": (
        "from pathlib import Path\ndef forget(p: Path):\n    p.unlink()\n",
        "file deletion",
        "`.unlink()`",
    ),
    "os.remove of a relative path": (
        "import os\ndef reset():\n    os.remove('state.json')\n",
        "file deletion",
        "not clearly inside a temporary directory",
    ),
    "write to /etc": (
        "def add_host():\n    with open('/etc/hosts', 'a') as f:\n        f.write('x')\n",
        "write outside the project",
        "'/etc/hosts'",
    ),
    "Path write to an absolute constant": (
        "from pathlib import Path\nCONF = Path('/opt/app') / 'conf'\n"
        "def save():\n    CONF.write_text('x')\n",
        "write outside the project",
        "`CONF`",
    ),
    "write to the home directory": (
        "from pathlib import Path\ndef rc():\n    (Path.home() / '.bashrc').write_text('x')\n",
        "write outside the project",
        "the home directory",
    ),
    "pickle.loads of a parameter": (
        "import pickle\ndef load(blob):\n    return pickle.loads(blob)\n",
        "unsafe deserialization",
        "the parameter `blob`",
    ),
    "pickle.load of a file opened from a parameter": (
        "import pickle\ndef load(path):\n    with open(path, 'rb') as f:\n"
        "        return pickle.load(f)\n",
        "unsafe deserialization",
        "`f`",
    ),
    "yaml.load with FullLoader": (
        "import yaml\ndef parse(text):\n    return yaml.load(text, Loader=yaml.FullLoader)\n",
        "unsafe deserialization",
        "yaml.safe_load",
    ),
    "OpenAI key": (f"KEY = {OPENAI_KEY!r}\n", "secret in the code", "OpenAI"),
    "Anthropic key": (f"def f():\n    return {ANTHROPIC_KEY!r}\n", "secret", "Anthropic"),
    "Google key": (f"# {GOOGLE_KEY}\nX = 1\n", "secret in the code", "Google API key"),
    "GitHub token": (f"headers = {{'Authorization': {GITHUB_TOKEN!r}}}\n", "secret", "GitHub"),
    "AWS key": (f"aws_access_key_id = {AWS_KEY!r}\n", "secret in the code", "AWS"),
    "random token assigned to a _TOKEN name": (
        "SLACK_TOKEN = 'f3a9c2e1b7d64a0e9c8b2f1a'\n",
        "secret in the code: `SLACK_TOKEN`",
        "(24 characters)",
    ),
    "password keyword argument": (
        "def connect(db):\n    return db.login(user='admin', password='Tr0ub4dor&3')\n",
        "secret in the code: `password`",
        "os.environ",
    ),
    "password default value": (
        "def connect(password='hunter22'):\n    return password\n",
        "secret in the code: `password`",
        "`hunt…`",
    ),
}


# where the finding is, when it is not on the last line
NOT_ON_THE_LAST_LINE = {"write to /etc": 2, "Google key": 1, "password default value": 1}


@pytest.mark.parametrize("name", DANGEROUS)
def test_dangerous_code_is_found_with_what_and_why(name: str) -> None:
    code, kind, detail = DANGEROUS[name]
    issues = find_dangers(code)
    assert len(issues) == 1, issues
    (issue,) = issues
    assert issue.check == "safety"
    assert issue.message.startswith(kind)
    assert detail in issue.message
    assert issue.line == NOT_ON_THE_LAST_LINE.get(name, code.count("\n"))


BENIGN = {
    "subprocess with a constant list": (
        "import subprocess\ndef status():\n"
        "    return subprocess.run(['git', 'status'], check=True)\n"
    ),
    "input only as arguments, not the program": (
        "import subprocess\ndef checkout(branch):\n"
        "    cmd = ['git', 'checkout', branch]\n    return subprocess.run(cmd)\n"
    ),
    "argument list extended with input": (
        "import subprocess\ndef log(args):\n    subprocess.run(['git', 'log'] + args)\n"
    ),
    "os.system with a constant": "import os\ndef clear():\n    os.system('clear')\n",
    "eval of a literal": "def two():\n    return eval('1 + 1')\n",
    "ast.literal_eval of input": "import ast\ndef parse(text):\n    return ast.literal_eval(text)\n",
    "rmtree of a tempfile directory": (
        "import shutil, tempfile\ndef work():\n    d = tempfile.mkdtemp()\n    shutil.rmtree(d)\n"
    ),
    "unlink inside a TemporaryDirectory": (
        "import os, tempfile\nfrom pathlib import Path\ndef work():\n"
        "    with tempfile.TemporaryDirectory() as d:\n"
        "        (Path(d) / 'x').unlink()\n        os.remove(os.path.join(d, 'y'))\n"
    ),
    "remove under /tmp": "import os\ndef tidy():\n    os.remove('/tmp/frugal.lock')\n",
    "write to /tmp": "def log():\n    open('/tmp/out.log', 'w').write('x')\n",
    "write to a relative path": "def save():\n    open('out.txt', 'w').write('x')\n",
    "write to a path from the caller": "def save(path):\n    open(path, 'w').write('x')\n",
    "read from an absolute path": "def hosts():\n    return open('/etc/hosts').read()\n",
    "yaml with SafeLoader": (
        "import yaml\ndef parse(text):\n    return yaml.load(text, Loader=yaml.SafeLoader)\n"
    ),
    "pickle of a constant file": (
        "import pickle\ndef cache():\n    with open('cache.pkl', 'rb') as f:\n"
        "        return pickle.load(f)\n"
    ),
    "key read from the environment": (
        "import os\nAPI_KEY = os.environ['OPENAI_API_KEY']\nAPI_KEY_ENV = 'OPENAI_API_KEY'\n"
    ),
    "names that only end like secrets": (
        "TOKEN_URL = 'https://example.test/token'\nSORT_KEY = 'created_at'\n"
        "monkey = 'f3a9c2e1b7d64a0e9c8b2f1a'\n"
    ),
    "placeholders": "API_KEY = '<your-api-key>'\npassword = 'changeme'\nsecret = ''\n",
}


@pytest.mark.parametrize("code", BENIGN.values(), ids=BENIGN.keys())
def test_benign_code_is_not_flagged(code: str) -> None:
    assert messages(code) == []


def test_secrets_are_never_repeated_in_full() -> None:
    (message,) = messages(f"KEY = {OPENAI_KEY!r}\n")
    assert OPENAI_KEY not in message
    assert OPENAI_KEY[4:12] not in message


def test_secrets_in_javascript() -> None:
    code = f"const apiKey = 'f3a9c2e1b7d64a0e9c8b2f1a';\nconst gh = \"{GITHUB_TOKEN}\";\n"
    issues = find_dangers(code, "javascript")
    assert [(issue.line, issue.message.split(",")[0]) for issue in issues] == [
        (1, "secret in the code: `apiKey` is set to a literal that looks like a real secret"),
        (2, "secret in the code: a string that looks like a GitHub token"),
    ]


def test_several_findings_come_in_line_order() -> None:
    code = (
        "import os, shutil\n"
        "def cleanup(path, cmd):\n"
        "    shutil.rmtree(path)\n"
        "    os.system(cmd)\n"
        "    return eval(cmd)\n"
    )
    assert [(issue.line, issue.message.split(":")[0]) for issue in find_dangers(code)] == [
        (3, "file deletion"),
        (4, "shell command built from input"),
        (5, "eval of a non-constant value"),
    ]


def test_nested_function_sees_the_outer_parameters() -> None:
    code = (
        "import subprocess\n"
        "def outer(cmd):\n"
        "    def inner():\n"
        "        subprocess.run(cmd, shell=False)\n"
        "    return inner\n"
    )
    (message,) = messages(code)
    assert message.startswith("program chosen by input")


def test_python_that_does_not_parse_gets_only_the_secret_scan() -> None:
    code = f"def broken(:\n    KEY = {OPENAI_KEY!r}\n    eval(x)\n"
    assert [issue.line for issue in find_dangers(code)] == [2]
