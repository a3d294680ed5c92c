"""Instruction types: what kind of action each step of a run is.

Every tool call (and every model turn) of a run gets one **type** from a small taxonomy:

- `read`: looking at a file's content: Read, NotebookRead, `cat`, `head`, `git diff`...
- `search`: finding things: Glob, Grep, LS, `ls`, `find`, `grep`, `rg`, `tree`...
- `write`: changing files: Write, Edit, MultiEdit, NotebookEdit, `cp`, `mv`, `rm`,
  `sed -i`, a redirection into a file, formatters (`black`, `ruff format`, `prettier --write`);
- `execute`: running a program: any other command; plugin tools unless they say otherwise;
- `verify`: running tests, linters and type checkers: `pytest`, `npm test`, `go test`,
  `cargo test`, `ruff check`, `mypy`, `eslint`, `tsc`, `make test`...;
- `network`: reaching another machine: WebFetch, WebSearch, `curl`, `git push`,
  `pip install`, `ssh`...;
- `delegate`: handing work to a subagent: Agent, Task;
- `plan`: planning: TodoWrite, ExitPlanMode; a model turn that calls tools;
- `respond`: a model turn that answers without calling tools.

A shell command can be several things at once (`pip install -e . && pytest` reaches the
network and runs tests): a step has every **kind** its parts have, and its **type** is the
first of them in `PRIORITY` (verify, network, write, execute, read, search). Policy selectors
match any kind a step has, so `forbid: network after credential-read` also stops a
`curl ... && pytest`. Steps also carry **traits**: `credential-read` (it read a secret: a
`.env`, a private key, `~/.aws/credentials`, the environment...) and `edit` (it changes an
existing file in place: Edit, MultiEdit, NotebookEdit, `sed -i`, `perl -pi`, `patch`).

Classification reads the command's words (shlex), never runs anything, and costs tens of
microseconds; results are cached per command.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
from collections.abc import Iterator
from typing import Any, Final

from llmos._internal.frozen import frozen

# compiled on first use: replays stay light
from llmos._internal.security.lazy_regex import LazyRegex

STEP_TYPES: Final = (
    "read",
    "search",
    "write",
    "execute",
    "verify",
    "network",
    "delegate",
    "plan",
    "respond",
)
TRAITS: Final = ("credential-read", "edit")
# When a step is several kinds, its type is the first of these it has.
PRIORITY: Final = ("verify", "network", "delegate", "plan", "write", "execute", "read", "search")

_READ_TOOLS = frozenset({"Read", "NotebookRead"})
_SEARCH_TOOLS = frozenset({"Glob", "Grep", "LS", "ToolSearch"})
_WRITE_TOOLS = frozenset({"Write", "Edit", "MultiEdit", "NotebookEdit"})
_EDIT_TOOLS = frozenset({"Edit", "MultiEdit", "NotebookEdit"})
_NETWORK_TOOLS = frozenset({"WebFetch", "WebSearch"})
_DELEGATE_TOOLS = frozenset({"Agent", "Task"})
_PLAN_TOOLS = frozenset({"TodoWrite", "ExitPlanMode", "EnterPlanMode"})


@frozen
class StepKind:
    """What a step is: its type, every kind it has, its traits, and the commands it ran."""

    type: str
    kinds: frozenset[str]
    traits: frozenset[str] = frozenset()
    commands: tuple[tuple[str, ...], ...] = ()  # each simple command's words (wrappers gone)
    paths: tuple[str, ...] = ()  # the files it names (file tools: its file)

    def has(self, name: str) -> bool:
        return name in self.kinds or name in self.traits


def classify(tool: str, tool_input: dict[str, Any], plugin_kind: str | None = None) -> StepKind:
    """The kind of one tool call. `plugin_kind`: what a plugin declared its tool to be."""
    if tool == "Bash":
        return classify_command(str(tool_input.get("command", "")))
    path = _file_of(tool_input)
    paths = (path,) if path else ()
    traits: set[str] = set()
    if tool in _EDIT_TOOLS:
        traits.add("edit")
    if (tool in _READ_TOOLS or tool == "Grep") and any(is_credential_path(p) for p in paths):
        traits.add("credential-read")
    if tool == "Grep" and is_credential_path(str(tool_input.get("path", ""))):
        traits.add("credential-read")
    kind = _tool_kind(tool, plugin_kind)
    return StepKind(kind, frozenset({kind}), frozenset(traits), (), paths)


def _tool_kind(tool: str, plugin_kind: str | None) -> str:
    if plugin_kind is not None:
        return plugin_kind
    if tool in _READ_TOOLS:
        return "read"
    if tool in _SEARCH_TOOLS:
        return "search"
    if tool in _WRITE_TOOLS:
        return "write"
    if tool in _NETWORK_TOOLS:
        return "network"
    if tool in _DELEGATE_TOOLS:
        return "delegate"
    if tool in _PLAN_TOOLS:
        return "plan"
    return "execute"


def _file_of(tool_input: dict[str, Any]) -> str | None:
    for key in ("file_path", "notebook_path"):
        value = tool_input.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def turn_type(made_calls: bool) -> str:
    """A model turn: it planned (it called tools) or it answered."""
    return "plan" if made_calls else "respond"


# Shell commands --------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4096)
def classify_command(command: str) -> StepKind:
    kinds: set[str] = set()
    traits: set[str] = set()
    commands: list[tuple[str, ...]] = []
    paths: list[str] = []
    for words, redirects in simple_commands(command):
        if any(_writes_file(target) for target in redirects):
            kinds.add("write")
        if not words:
            continue
        inner = _shell_string(words)
        if inner is not None:  # bash -c "pytest -q": the string is the command
            nested = classify_command(inner)
            kinds |= nested.kinds
            traits |= nested.traits
            commands += nested.commands
            paths += nested.paths
            continue
        commands.append(words)
        kinds |= _command_kinds(words)
        if _reads_credentials(words):
            traits.add("credential-read")
        if _edits_in_place(words):
            traits.add("edit")
        paths += [w for w in words[1:] if not w.startswith("-")]
    if _SECRET_REFERENCE.search(command):
        traits.add("credential-read")
    if not kinds:
        kinds.add("execute")
    primary = next(k for k in PRIORITY if k in kinds)
    return StepKind(primary, frozenset(kinds), frozenset(traits), tuple(commands), tuple(paths))


_FD_NUMBER = LazyRegex(r"(^|\s)\d+(?=[<>])")  # the 2 of 2>/dev/null
_FD_REDIRECT = LazyRegex(r"[<>]&\d*-?")  # >&2, 2>&1 (once the 2 is gone)
_HEREDOC = LazyRegex(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")
_SEPARATORS = frozenset({"&&", "||", ";", "|", "&", "(", ")", ";;", "|&", "{", "}", "!"})
_REDIRECTS = frozenset({">", ">>", ">|", "&>", "&>>", "<", "<<", "<<<", "<>", ">&", "<&"})
_ASSIGNMENT = LazyRegex(r"^[A-Za-z_][A-Za-z0-9_]*=")
_KEYWORDS = frozenset({"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "for"})


def simple_commands(command: str) -> Iterator[tuple[tuple[str, ...], tuple[str, ...]]]:
    """Each simple command of a command line: its words (environment assignments and
    wrappers such as `sudo`, `timeout 60`, `uv run` or `python -m` removed) and the files
    it redirects output into. Here-document bodies are data, not commands."""
    text = _without_heredoc_bodies(command).replace("\n", " ; ")
    text = _FD_REDIRECT.compiled.sub(" ", _FD_NUMBER.compiled.sub(r"\1", text))
    try:
        lexer = shlex.shlex(text, posix=True, punctuation_chars="();<>|&")
        lexer.whitespace_split = True
        tokens = list(lexer)
    except ValueError:  # unbalanced quotes: fall back to plain words
        tokens = text.split()
    words: list[str] = []
    redirects: list[str] = []
    target: str | None = None  # the redirection whose file the next token is
    for token in tokens:
        if target is not None:
            if target.startswith((">", "&>")) or target == "<>":
                redirects.append(token)  # an output file (input files and here-docs: data)
            target = None
            continue
        if token in _SEPARATORS:
            if words or redirects:
                yield _unwrapped(words), tuple(redirects)
            words, redirects = [], []
            continue
        if token in _REDIRECTS:
            target = token
            continue
        words.append(token)
    if words or redirects:
        yield _unwrapped(words), tuple(redirects)


_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh"})


def _shell_string(words: tuple[str, ...]) -> str | None:
    if words[0] in _SHELLS and "-c" in words[1:-1]:
        return words[words.index("-c") + 1]
    return None


def _without_heredoc_bodies(command: str) -> str:
    if "<<" not in command:
        return command
    lines = command.split("\n")
    out: list[str] = []
    pending: list[str] = []
    for line in lines:
        if pending:
            if line.strip() == pending[0]:
                pending.pop(0)
            continue
        out.append(line)
        pending += [m.group(2) for m in _HEREDOC.finditer(line)]
    return "\n".join(out)


def _writes_file(target: str) -> bool:
    return not (target.startswith(("/dev/", "&")) or target.isdigit() or target == "-")


# Wrappers: the command they run is the real one. name -> options that take a value.
_WRAPPERS: dict[str, frozenset[str]] = {
    "sudo": frozenset({"-u", "-g", "-C", "-D", "-h", "-p", "-U"}),
    "env": frozenset({"-u", "-C", "-S"}),
    "time": frozenset({"-f", "-o"}),
    "nice": frozenset({"-n"}),
    "ionice": frozenset({"-c", "-n"}),
    "nohup": frozenset(),
    "command": frozenset(),
    "exec": frozenset(),
    "builtin": frozenset(),
    "stdbuf": frozenset(),
    "xvfb-run": frozenset({"-s", "-n"}),
    "dotenv": frozenset({"-f"}),
    "npx": frozenset({"-p", "--package"}),
    "pnpx": frozenset(),
    "bunx": frozenset(),
    "uvx": frozenset({"--from", "--with"}),
    "pipx": frozenset(),  # `pipx run X`: "run" is dropped below
    "catchsegv": frozenset(),
    "unbuffer": frozenset(),
    "xargs": frozenset({"-I", "-n", "-P", "-L", "-d", "-a", "-s", "-E"}),
}
_TIMEOUT = frozenset({"timeout", "gtimeout"})
_RUNNERS = {  # program -> subcommand that runs the next words as a command
    "uv": "run",
    "poetry": "run",
    "pipenv": "run",
    "hatch": "run",
    "pdm": "run",
    "rye": "run",
    "conda": "run",
    "bundle": "exec",
    "pnpm": "exec",
    "yarn": "dlx",
    "pipx": "run",
    "nix": "run",
    "coverage": "run",
}
_PYTHON = LazyRegex(r"^(python|python[23](\.\d+)?|pypy3?|py)$")


def _unwrapped(words: list[str]) -> tuple[str, ...]:
    rest = list(words)
    for _ in range(8):  # wrappers of wrappers, within reason
        while rest and (_ASSIGNMENT.match(rest[0]) or rest[0] in _KEYWORDS):
            rest.pop(0)
        if not rest:
            return ()
        head = os.path.basename(rest[0])
        if head in _WRAPPERS:
            inner = _skip_options(rest[1:], _WRAPPERS[head])
            if not inner:
                break  # the wrapper alone: a bare `env` prints the environment
            rest = inner
            continue
        if head in _TIMEOUT:
            rest = _skip_options(rest[1:], frozenset({"-s", "-k", "--signal", "--kill-after"}))
            rest = rest[1:]  # the duration
            continue
        runner = _RUNNERS.get(head)
        if runner and len(rest) > 1 and rest[1] == runner:
            rest = _skip_options(rest[2:], frozenset())
            if head == "hatch" and rest and ":" in rest[0]:  # hatch run ENV:SCRIPT
                rest[0] = rest[0].split(":", 1)[1]
            if head == "coverage":  # coverage run -m pytest: the module is what runs
                rest = _python_module(["python", *rest]) or rest
            continue
        if _PYTHON.match(head):
            module = _python_module(rest)
            if module:
                rest = module
                continue
        break
    return (os.path.basename(rest[0]), *rest[1:]) if rest else ()


def _skip_options(rest: list[str], with_value: frozenset[str]) -> list[str]:
    while rest and rest[0].startswith("-"):
        option = rest.pop(0)
        if option == "--":
            break
        if option in with_value and rest:
            rest.pop(0)
    while rest and _ASSIGNMENT.match(rest[0]):
        rest.pop(0)
    return rest


def _python_module(words: list[str]) -> list[str] | None:
    """`python -m pytest -q` as `pytest -q`."""
    for i, word in enumerate(words[1:], start=1):
        if word == "-m" and i + 1 < len(words):
            return words[i + 1 :]
        if not word.startswith("-"):
            return None
    return None


# What programs do ----------------------------------------------------------------------------
_ANY = frozenset({"*"})
# Verifiers: program -> the subcommands that verify (_ANY: the program itself verifies).
_VERIFY: dict[str, frozenset[str]] = {
    **dict.fromkeys(
        "pytest py.test tox nox nose2 unittest mypy dmypy pyright pylint flake8 bandit pyflakes "
        "pycodestyle pydocstyle pytype jest vitest mocha ava jasmine karma tsc vue-tsc stylelint "
        "shellcheck hadolint yamllint markdownlint markdownlint-cli2 rspec phpunit pest phpstan "
        "psalm bats ctest golangci-lint staticcheck revive clang-tidy cppcheck actionlint tflint "
        "checkov commitlint xmllint jsonlint kubeconform kubeval vale cspell codespell "
        "detekt ktlint swiftlint pre-commit tsd".split(),
        _ANY,
    ),
    "go": frozenset({"test", "vet"}),
    "cargo": frozenset({"test", "check", "clippy", "nextest", "miri", "audit", "deny"}),
    "deno": frozenset({"test", "lint", "check"}),
    "bun": frozenset({"test"}),
    "dotnet": frozenset({"test"}),
    "mvn": frozenset({"test", "verify"}),
    "mvnw": frozenset({"test", "verify"}),
    "gradle": frozenset({"test", "check"}),
    "gradlew": frozenset({"test", "check"}),
    "swift": frozenset({"test"}),
    "mix": frozenset({"test", "credo", "dialyzer"}),
    "stack": frozenset({"test"}),
    "cabal": frozenset({"test"}),
    "sbt": frozenset({"test"}),
    "lein": frozenset({"test"}),
    "flutter": frozenset({"test", "analyze"}),
    "dart": frozenset({"test", "analyze"}),
    "terraform": frozenset({"validate"}),
    "tofu": frozenset({"validate"}),
    "helm": frozenset({"lint"}),
    "composer": frozenset({"test"}),
    "cypress": frozenset({"run"}),
    "playwright": frozenset({"test"}),
    "zig": frozenset({"test"}),
    "xcodebuild": frozenset({"test"}),
    "rake": frozenset({"test", "spec"}),
}
_SCRIPT_RUNNERS = frozenset({"npm", "yarn", "pnpm", "bun"})
_TASK_RUNNERS = frozenset({"make", "gmake", "just", "task", "mage", "invoke", "nx", "turbo"})
_VERIFY_TARGET = LazyRegex(
    r"^(test|tests|check|checks|lint|linters?|typecheck|type-check|types|verify|ci|spec|e2e"
    r"|unit|integration)([:_-].*)?$"
)
# Formatters verify with a check flag and write without one.
_FORMATTERS: dict[str, frozenset[str]] = {
    "black": frozenset({"--check", "--diff"}),
    "isort": frozenset({"--check", "--check-only", "-c", "--diff"}),
    "prettier": frozenset({"--check", "-c", "--list-different", "-l"}),
    "gofmt": frozenset({"-l", "-d"}),
    "rustfmt": frozenset({"--check"}),
    "clang-format": frozenset({"--dry-run", "-n", "--Werror"}),
    "autopep8": frozenset({"--diff"}),
    "rubocop": frozenset(),  # verifies, unless it corrects
    "eslint": frozenset(),
}
_FIXING = frozenset({"--fix", "-a", "-A", "--autocorrect", "--autocorrect-all", "-w", "--write"})
_FORMATTER_WRITES_BY_DEFAULT = frozenset({"black", "isort", "autopep8"})

_NETWORK_PROGRAMS = frozenset(
    "curl wget http https xh httpie nc ncat netcat socat telnet ssh scp sftp ftp lftp ping "
    "dig nslookup host whois nmap aria2c axel kubectl aws gcloud gsutil az gh glab hub heroku "
    "vercel netlify flyctl fly doctl twine websocat grpcurl mosh".split()
)
_NETWORK_SUBCOMMANDS: dict[str, frozenset[str]] = {
    "git": frozenset({"push", "pull", "fetch", "clone", "ls-remote", "submodule"}),
    "pip": frozenset({"install", "download", "wheel", "search"}),
    "pip3": frozenset({"install", "download", "wheel", "search"}),
    "uv": frozenset({"add", "sync", "lock", "pip", "tool", "publish"}),
    "poetry": frozenset({"install", "add", "update", "lock", "publish"}),
    "pipenv": frozenset({"install", "update", "lock", "sync"}),
    "pipx": frozenset({"install", "upgrade", "inject"}),
    "conda": frozenset({"install", "create", "update"}),
    "npm": frozenset({"install", "i", "ci", "add", "update", "publish", "pack", "view"}),
    "yarn": frozenset({"add", "install", "upgrade", "publish", "dlx"}),
    "pnpm": frozenset({"add", "install", "i", "update", "publish", "dlx"}),
    "bun": frozenset({"add", "install", "i", "update", "publish"}),
    "cargo": frozenset({"install", "publish", "fetch", "update", "search"}),
    "go": frozenset({"get", "install", "mod"}),
    "gem": frozenset({"install", "push", "update", "fetch"}),
    "bundle": frozenset({"install", "update"}),
    "composer": frozenset({"install", "require", "update"}),
    "apt": frozenset({"install", "update", "upgrade"}),
    "apt-get": frozenset({"install", "update", "upgrade"}),
    "dnf": frozenset({"install", "update", "upgrade"}),
    "yum": frozenset({"install", "update"}),
    "apk": frozenset({"add", "update"}),
    "brew": frozenset({"install", "update", "upgrade", "tap"}),
    "docker": frozenset({"pull", "push", "login", "search"}),
    "podman": frozenset({"pull", "push", "login", "search"}),
    "helm": frozenset({"install", "upgrade", "repo", "pull", "push"}),
    "rsync": frozenset(),  # decided by its arguments: a host:path
}
_WRITE_PROGRAMS = frozenset(
    "cp mv rm rmdir mkdir touch ln chmod chown chgrp install tee truncate dd patch unzip tar "
    "shred rsync".split()
)
_IN_PLACE = {"sed": frozenset({"-i", "--in-place"}), "perl": frozenset({"-i", "-pi"})}
_GIT_WRITES = frozenset(
    "add commit checkout switch restore reset rm mv apply merge rebase cherry-pick revert stash "
    "init tag branch am".split()
)
_GIT_READS = frozenset({"show", "diff", "log", "status", "blame", "shortlog", "cat-file"})
_GIT_SEARCHES = frozenset({"grep", "ls-files", "ls-tree", "rev-parse", "describe"})
_READ_PROGRAMS = frozenset(
    "cat head tail less more bat nl od xxd hexdump strings wc diff cmp stat file jq yq sort uniq "
    "cut column base64 md5sum sha256sum sha1sum awk sed zcat bzcat xzcat readlink realpath".split()
)
_SEARCH_PROGRAMS = frozenset(
    "ls find fd fdfind grep egrep fgrep rg ag ack tree locate which whereis type du df "
    "basename dirname".split()
)
_NEUTRAL = frozenset("echo printf true false : pwd date whoami sleep cd pushd popd exit".split())


def _command_kinds(words: tuple[str, ...]) -> set[str]:
    program, args = words[0], words[1:]
    sub = next((a for a in args if not a.startswith("-")), "")
    if program in _NEUTRAL:
        return set()
    verify = _verify_kind(program, args, sub)
    if verify is not None:
        return {verify}
    kinds: set[str] = set()
    if program in _NETWORK_PROGRAMS or (
        program in _NETWORK_SUBCOMMANDS
        and (
            sub in _NETWORK_SUBCOMMANDS[program]
            or (program == "rsync" and any(_is_remote(a) for a in args))
            or (program == "yarn" and not sub)  # a bare `yarn` installs
        )
    ):
        kinds.add("network")
    if program == "git":
        if sub in _GIT_WRITES:
            kinds.add("write")
        elif sub in _GIT_READS:
            kinds.add("read")
        elif sub in _GIT_SEARCHES:
            kinds.add("search")
    elif (program in _WRITE_PROGRAMS and not kinds) or (program == "find" and "-delete" in args):
        kinds.add("write")
    elif program == "find" and ("-exec" in args or "-execdir" in args):
        kinds.add("execute")
    elif program in _IN_PLACE and any(a.split("=")[0] in _IN_PLACE[program] for a in args):
        kinds.add("write")
    elif program in _READ_PROGRAMS:
        kinds.add("read")
    elif program in _SEARCH_PROGRAMS:
        kinds.add("search")
    return kinds or {"execute"}


def _edits_in_place(words: tuple[str, ...]) -> bool:
    """`sed -i`, `perl -pi`, `patch`: a command that changes existing files in place."""
    program, args = words[0], words[1:]
    if program == "patch":
        return True
    flags = _IN_PLACE.get(program)
    return flags is not None and any(a.split("=")[0] in flags or a.startswith("-i") for a in args)


def _verify_kind(program: str, args: tuple[str, ...], sub: str) -> str | None:
    """ "verify", "write" (a formatter or linter asked to fix), or None (not a verifier)."""
    if program in _FORMATTERS:
        checks = _FORMATTERS[program]
        if any(a.split("=")[0] in _FIXING for a in args) and program not in ("gofmt",):
            return "write"
        if program == "gofmt":
            return "write" if "-w" in args else "verify"
        if program in _FORMATTER_WRITES_BY_DEFAULT or program in ("prettier", "rustfmt"):
            return "verify" if any(a in checks for a in args) else "write"
        if program == "clang-format":
            return "write" if "-i" in args else "verify"
        return "verify"
    if program == "ruff":
        if sub == "format":
            return "verify" if "--check" in args or "--diff" in args else "write"
        return "write" if any(a in ("--fix", "--unsafe-fixes") for a in args) else "verify"
    if sub in ("fmt", "format") and program in ("cargo", "deno", "dart", "mix", "go"):
        flags = {"--check", "--check-formatted", "--set-exit-if-changed"}
        return "verify" if flags & set(args) else "write"
    wanted = _VERIFY.get(program)
    if wanted is _ANY:
        return "verify"
    if wanted is not None and sub in wanted:
        return "verify"
    if program in _SCRIPT_RUNNERS:
        if sub in ("test", "t"):
            return "verify"
        if sub in _NETWORK_SUBCOMMANDS[program]:
            return None  # `npm ci` installs
        if sub and sub != "run":
            after = args[args.index(sub) + 1 :]  # `yarn eslint .`: a package's program
            nested_sub = next((a for a in after if not a.startswith("-")), "")
            nested = _verify_kind(sub, after, nested_sub) if sub not in _SCRIPT_RUNNERS else None
            if nested is not None:
                return nested
        script = sub
        if sub == "run":
            after = args[args.index("run") + 1 :]
            script = next((a for a in after if not a.startswith("-")), "")
        return "verify" if _is_verify_name(script) else None
    if program in _TASK_RUNNERS:
        targets = [a for a in args if not a.startswith("-") and "=" not in a]
        if targets and all(_is_verify_name(t) for t in targets):
            return "verify"
        return None
    if _PYTHON.match(program) and len(args) >= 2 and args[0].endswith(("manage.py", "setup.py")):
        return "verify" if args[1] == "test" else None
    if program == "php" and len(args) >= 2 and args[0] == "artisan" and args[1] == "test":
        return "verify"
    if program == "terraform" or program == "tofu":
        return "verify" if sub == "fmt" and "-check" in args else None
    return None


def _is_verify_name(name: str) -> bool:
    return bool(_VERIFY_TARGET.match(name))


def _is_remote(arg: str) -> bool:
    return not arg.startswith("-") and ("::" in arg or re.match(r"^[\w.@-]+:", arg) is not None)


# Credentials ---------------------------------------------------------------------------------
_CREDENTIAL_NAME = LazyRegex(
    r"^(\.env(\..+)?|.*\.(pem|key|p12|pfx|jks|keystore|secret|token|asc|gpg)|id_(rsa|dsa|ecdsa"
    r"|ed25519)(_[\w-]+)?|\.netrc|_netrc|\.npmrc|\.pypirc|\.git-credentials|\.?credentials"
    r"(\.json|\.ya?ml|\.csv)?|secrets?(\.[\w.]+)?|\.htpasswd|\.vault-token|service[-_]account.*"
    r"\.json|master\.key|token|kubeconfig|\.pgpass|\.my\.cnf)$",
    re.IGNORECASE,
)
_HARMLESS_NAME = LazyRegex(r"\.(example|sample|template|dist|pub)$|^\.env\.(example|sample)")
_CREDENTIAL_DIRS = ("/.ssh/", "/.aws/", "/.gnupg/", "/.kube/", "/.docker/", "/.azure/")
_CREDENTIAL_FILES = ("/.config/gh/hosts.yml", "/.config/gcloud/", "/.claude/.credentials.json")
_SECRET_REFERENCE = LazyRegex(
    r"\$\{?[A-Za-z0-9_]*(SECRET|TOKEN|PASSWORD|PASSWD|API_?KEY|ACCESS_KEY|PRIVATE_KEY)"
    r"[A-Za-z0-9_]*",
    re.IGNORECASE,
)
_READERS = _READ_PROGRAMS | frozenset(
    "grep egrep rg cp scp rsync source . tar zip gpg openssl xclip pbcopy vi vim nano".split()
)
_ENV_DUMPS = frozenset({"export", "declare", "typeset", "set"})
_SECRET_COMMANDS: dict[str, LazyRegex] = {
    "git": LazyRegex(r"\bcredential\b"),
    "aws": LazyRegex(r"\bconfigure (get|export-credentials)\b|get-secret-value|get-session-token"),
    "gh": LazyRegex(r"\bauth token\b"),
    "gcloud": LazyRegex(r"print-(access|identity)-token|secrets versions access"),
    "kubectl": LazyRegex(r"\bget secrets?\b|config view\b.*--raw"),
    "security": LazyRegex(r"find-(generic|internet)-password"),
    "pass": LazyRegex(r"\bshow\b"),
    "gopass": LazyRegex(r"\bshow\b"),
    "op": LazyRegex(r"\b(read|item get)\b"),
    "vault": LazyRegex(r"\b(read|kv get)\b"),
    "bw": LazyRegex(r"\bget\b"),
    "doppler": LazyRegex(r"\bsecrets\b"),
    "gpg": LazyRegex(r"--export-secret"),
}


def is_credential_path(path: str) -> bool:
    """Whether a path names a secret: a `.env`, a private key, cloud or registry credentials."""
    if not path:
        return False
    text = "/" + path.replace("\\", "/").lstrip("/")
    name = text.rsplit("/", 1)[-1]
    if _HARMLESS_NAME.search(name):
        return False
    if any(part in text for part in _CREDENTIAL_DIRS) and not name.startswith("known_hosts"):
        return True
    if any(part in text for part in _CREDENTIAL_FILES):
        return True
    return bool(_CREDENTIAL_NAME.match(name))


def _reads_credentials(words: tuple[str, ...]) -> bool:
    program, args = words[0], words[1:]
    names = [a for a in args if not a.startswith("-")]
    if program in ("env", "printenv"):  # the whole environment, or a secret variable
        return not names or any(_SECRET_REFERENCE.search("$" + a) for a in names)
    if program in _ENV_DUMPS:  # `set`, `export -p`, `declare -x`: every variable's value
        return not names and (program != "set" or not args)
    pattern = _SECRET_COMMANDS.get(program)
    if pattern is not None and pattern.search(" ".join(args)):
        return True
    # `curl -d @.env`, `-F key=@id_rsa`: the file after an @ is read and sent.
    if any(is_credential_path(a.rsplit("@", 1)[1]) for a in args if "@" in a):
        return True
    if program in _READERS:
        return any(is_credential_path(a) for a in args if not a.startswith("-"))
    return False


def command_key(command: str) -> str:
    """A command line as counted for repeats (`the same command failed 3 times`): the same
    words, however they are spaced."""
    return " ".join(command.split())
