"""Rules about credentials and sending data out: reading secret files, printing tokens or the
environment, the cloud metadata service, copying a whole home folder, uploading files from
outside the workspace, and network tools (`curl`, `wget`, `nc`, `socat`)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from llmos._internal.security.decision import Decision, deny
from llmos._internal.security.lazy_regex import LazyRegex
from llmos._internal.security.redact import SECRET_VAR_NAME as _SECRET_VAR
from llmos._internal.security.rule_kit import (
    applies_to,
    each,
    first_hard,
    option_values,
    positionals,
    words,
)
from llmos._internal.security.shell_tables import NETWORK_TOOLS
from llmos._internal.security.shell_types import UNKNOWN, Command
from llmos._internal.security.verdicts import read_verdict, reverse_shell, write_verdict
from llmos._internal.security.zones import Zones, shown, target, within

_READ_EXEMPT = words(  # commands that only look at names and metadata, or act on paths
    "ls stat file du df test [ which type realpath readlink basename dirname touch mkdir chmod "
    "chown chgrp setfacl chattr ssh ssh-add ssh-keygen ssh-copy-id find tree echo printf rm "
    "rmdir mv ln cd pushd command"
)
_METADATA = LazyRegex(
    r"169\.254\.169\.254|169\.254\.170\.2|metadata\.google\.internal|100\.100\.100\.200"
    r"|fd00:ec2::254"
)
_PRINTERS = words("echo printf printenv print cat tee logger")
_TOKEN_PRINTERS = {  # command -> pattern of the arguments that print or export a credential
    "gh": r"\bauth token\b|\bauth status\b.*(-t\b|--show-token)",
    "glab": r"\bauth status\b.*(-t\b|--show-token)",
    "gcloud": r"\bprint-(access|identity)-token\b|\bconfig config-helper\b"
    r"|\bsecrets versions access\b",
    "az": r"\bget-access-token\b|\bkeyvault secret (show|download)\b|\bcreate-for-rbac\b"
    r"|\bad sp credential reset\b|\bstorage account keys list\b",
    "aws": r"\bconfigure (get \S*(secret|token|key)|export-credentials)"
    r"|\bget-session-token\b|\bget-login-password\b|\bassume-role\b"
    r"|\bget-secret-value\b|\bcreate-access-key\b|\bget-parameters?\b.*--with-decryption"
    r"|\bget-federation-token\b|\bget-authorization-token\b",
    "kubectl": r"\bconfig view\b.*--raw|\bget (secrets?|secret/\S+)\b.*(-o|--output)\b",
    "security": r"\bfind-(generic|internet)-password\b.*\s-[a-zA-Z]*[wg]|\bdump-keychain\b"
    r"|\bexport\b.*-k\b",
    "lpass": r"\bshow\b|\bexport\b",
    "keepassxc-cli": r"\b(show|export|clip)\b",
    "1password": r"\b(read|item get)\b",
    "doctl": r"\bauth token\b",
    "vault": r"\b(read|kv get|token create|print token)\b",
    "gpg": r"--export-secret-(sub)?keys?\b|--export-ssh-key\b.*--secret",
    "gpg2": r"--export-secret-(sub)?keys?\b",
    "git": r"\bcredential(-\w+)?\s+(fill|get)\b",
    "op": r"\b(read|item get|document get|inject)\b",
    "bw": r"\bget (password|item|notes|totp|exposed)\b|\bexport\b",
    "pass": r"^(show\b|-c\b|[\w@./-]+$)",
    "gopass": r"\bshow\b|^[\w@./-]+$",
    "secret-tool": r"\blookup\b",
    "keyctl": r"\b(print|read|pipe)\b",
    "firebase": r"\blogin:ci\b",
    "npm": r"\bconfig get\b.*(_auth|token)|\btoken create\b",
    "docker-credential-desktop": r"\bget\b",
    "docker-credential-osxkeychain": r"\bget\b",
    "docker-credential-pass": r"\bget\b",
    "docker-credential-secretservice": r"\bget\b",
    "cf": r"\boauth-token\b",
    "wg": r"\bshow\b.*\bprivate-key\b|\bshowconf\b",
    # secret managers and platforms that hand out what they store
    "doppler": r"\bsecrets\b.*\b(download|get)\b|^secrets$",
    "infisical": r"\bexport\b|\bsecrets\b.*\bget\b",
    "chamber": r"\b(read|export)\b",
    "sops": r"(^|\s)(-d|--decrypt|exec-env|exec-file)\b",
    "heroku": r"\bauth:token\b|\bconfig(?!:(set|unset|add|remove))\b",
    "bws": r"\bsecret\s+(get|list)\b",
    "akeyless": r"\bget-secret-value\b",
    "teller": r"\b(show|env|export|yaml|json)\b",
    "berglas": r"\baccess\b",
    "railway": r"\bvariables\b(?!.*--set)",
    "netlify": r"\benv:(get|list|export)\b",
    "vercel": r"\benv\s+(ls|list)\b.*--decrypt",
    "flyctl": r"\bssh\s+console\b.*\benv\b",
}
# Private files that are credentials wherever they are (for paths only partly known).
_SECRET_NAMES = LazyRegex(
    r"(^|/)(\.credentials\.json|id_(rsa|dsa|ecdsa|ed25519)(_sk)?|\.git-credentials|\.netrc|\.pgpass"
    r"|\.vault-token|credentials\.db|access_tokens\.db|\.aws/credentials|\.docker/config\.json"
    r"|shadow|\.kube/config|gh/hosts\.yml|application_default_credentials\.json|\.npmrc|\.pypirc"
    r"|\.pgpass|\.my\.cnf)$"
)
_AUTH_OPTS = words("-H --header --proxy-header -u --user --oauth2-bearer")


def path_candidates(arg: str) -> Iterable[str]:
    if not arg or "://" in arg:
        return
    if not arg.startswith("-"):
        yield arg
    for sep in ("=", "@", "<"):  # --opt=path, -F f=@path, -d @path
        if sep in arg:
            yield arg.split(sep, 1)[1]


_RECURSIVE_SEARCH = words("rg ag ack ripgrep")


def _searches_secrets(cmd: Command, zones: Zones) -> Decision | None:
    """grep -r / rg through a folder that holds credentials (home, /etc, /): asked about, as
    the Grep tool is."""
    recursive = cmd.name in _RECURSIVE_SEARCH or (
        cmd.name in ("grep", "egrep", "fgrep")
        and any(
            re.fullmatch(r"-\w*[rR]\w*|--recursive|--dereference-recursive", a) for a in cmd.args
        )
    )
    if not recursive:
        return None
    from llmos._internal.security.verdicts import holds_secrets

    for text in positionals(cmd.args, ["-e", "-f", "-m", "-A", "-B", "-C", "-g", "--glob", "-t"])[
        1:
    ]:
        t = target(text, cmd, zones) if _path_like(text, cmd) else None
        if t is not None and not t.guessed and holds_secrets(t.path, zones):
            from llmos._internal.security.decision import ask

            return ask(
                "secret-search",
                f"`{cmd.name}` would search {shown(t.path, zones)}, which holds credentials "
                "(~/.ssh, ~/.aws, ...). Search inside the workspace, or name the folder you need.",
            )
    return None


def secrets(cmd: Command, zones: Zones) -> Decision | None:
    if any(_METADATA.search(a) for a in cmd.args):
        return deny(
            "credential-access",
            f"`{cmd.name}` would query the cloud instance metadata service, which hands out "
            "credentials. Don't; ask the user for what you need.",
        )
    printer = _TOKEN_PRINTERS.get(cmd.name)
    if printer and re.search(printer, " ".join(cmd.args)):
        return deny(
            "credential-access",
            f"`{cmd.name} {' '.join(cmd.args)}` would print a credential into the conversation. "
            "Don't; let the tools that need it use it directly.",
        )
    if cmd.name in _READ_EXEMPT:
        return None
    searched = _searches_secrets(cmd, zones)
    texts = [cmd.stdin.text] if cmd.stdin and cmd.stdin.kind == "file" else []
    texts += [c for a in cmd.args for c in path_candidates(a)]
    for text in texts:
        if not _path_like(text, cmd):
            continue
        decision = _reads_secret(cmd, text, zones)
        if decision:
            return decision
    return searched


def _reads_secret(cmd: Command, text: str, zones: Zones) -> Decision | None:
    """Whether reading the path `text` reads credentials: the path itself, what a glob in it
    reaches (``/proc/*/environ``, ``~/.ssh/id_*``), or, when a variable in it is unknown
    (``$CLAUDE_CONFIG_DIR/.credentials.json``), a file name that is a credential anywhere."""
    t = target(text, cmd, zones)
    if t is None:
        return None
    if not t.guessed and not t.children:
        return read_verdict(cmd.name, t.path, zones)
    if text.startswith(UNKNOWN) and _SECRET_NAMES.search(text.replace(UNKNOWN, "")):
        return deny(
            "credential-access",
            f"`{cmd.name}` would read {text.replace(UNKNOWN, '$…')}, a credentials file. "
            "Don't read secrets; ask the user for what you need.",
        )
    pinned = re.sub(r"[*?]|\[[^\]]*\]", "x", text.replace(UNKNOWN, "x"))
    return read_verdict(cmd.name, zones.locate(pinned, cmd.cwd), zones)


def _path_like(text: str, cmd: Command) -> bool:
    """Whether an argument names a path: it has a slash or starts with . or ~, or it is a
    symbolic link in the working folder (a plain name that may lead anywhere), on disk or
    made earlier in the command."""
    if "/" in text or text[:1] in ".~":
        return True
    if not text or UNKNOWN in text:
        return False
    place = os.path.join(cmd.cwd, text)
    # os.path.islink says False for any text; Path.is_symlink() raises on some (too long a name).
    return os.path.islink(place) or any(link.endswith("/" + text) for link, _ in cmd.links)  # noqa: PTH114


def copies_home(cmd: Command, sources: Iterable[str], zones: Zones) -> Decision | None:
    """Copying or archiving a whole home folder (yours, root's, another user's) or a folder
    above one takes its credentials along."""
    for text in sources:
        t = target(text, cmd, zones)
        if t is None or t.guessed:
            continue
        homes = within(zones.home, t.path) or t.path == "/root"
        if homes or (zones.homes and os.path.dirname(t.path) == zones.homes):
            return deny(
                "credential-access",
                f"`{cmd.name}` would copy {shown(t.path, zones)} whole, credentials (~/.ssh, "
                f"~/.aws, ...) included. Copy only the files you need, from {zones.workdir}.",
            )
    return None


def secret_env(cmd: Command, zones: Zones) -> Decision | None:
    operands = positionals(cmd.args)
    if cmd.name == "env":  # env alone, or with only NAME=value assignments, prints them all
        split = any(
            a in ("-S", "--split-string") or a.startswith("--split-string=") for a in cmd.args
        )
        dumps = not split and all(re.match(r"[A-Za-z_][A-Za-z0-9_]*=", o) for o in operands)
    elif cmd.name == "ps":  # BSD-style e: every process's environment
        dumps = any(re.fullmatch(r"[a-zA-Z]*e[a-zA-Z]*", a) for a in cmd.args)
    elif cmd.name in ("export", "declare", "typeset"):
        dumps = not operands and (not cmd.args or bool({"-p", "-x"} & set(cmd.args)))
    else:
        dumps = (cmd.name == "printenv" and not operands) or (cmd.name == "set" and not cmd.args)
    if dumps:
        return deny(
            "secret-env",
            f"`{cmd.name}` would print the whole environment, which holds secrets such as API "
            "keys. Print only the variable you need (printenv NAME), if it is not a secret.",
        )
    if cmd.name in NETWORK_TOOLS:  # sending a token as a header is how it is meant to be used
        names = {
            v
            for k, arg in enumerate(cmd.argv)
            if not (k and cmd.args[k - 1] in _AUTH_OPTS) and not arg.text.startswith("--header=")
            for v in arg.variables
        }
    elif cmd.name in _PRINTERS:
        names = set(cmd.variables) | (set(operands) if cmd.name == "printenv" else set())
    else:
        return None
    names = {n for n in names if _SECRET_VAR.search(n)}
    if not names:
        return None
    return deny(
        "secret-env",
        f"`{cmd.name}` would print or send the secret variable(s) {', '.join(sorted(names))}. "
        "Use secrets only where they are needed, without printing or sending them elsewhere.",
    )


def upload(cmd: Command, files: Iterable[str], zones: Zones) -> Decision | None:
    for text in files:
        t = target(text, cmd, zones)
        if t is None or t.guessed:
            continue
        decision = read_verdict(cmd.name, t.path, zones)
        if decision:
            return decision
        if zones.zone(t.path) not in ("workdir", "temp"):
            return deny(
                "network-upload",
                f"`{cmd.name}` would send {shown(t.path, zones)}, a file outside the workspace, "
                f"over the network. Only send files from inside {zones.workdir}.",
            )
    return None


_NETCAT = words("nc ncat netcat nc.traditional nc.openbsd")
_CURL_DATA = ("-d", "--data", "--data-binary", "--data-ascii", "--data-urlencode", "--json")


@applies_to("curl wget socat telnet " + " ".join(_NETCAT))
def _network(cmd: Command, zones: Zones) -> Decision | None:
    args = cmd.args
    if cmd.name in _NETCAT and any(
        re.fullmatch(r"-[A-Za-z]*[ec]|--(sh-|lua-)?exec(=.*)?", a) for a in args
    ):
        return reverse_shell(cmd.name, "it hands the connection to a program with -e/-c")
    if cmd.name == "socat" and any(re.match(r"(?i)^(exec|system):", a) for a in args):
        return reverse_shell(cmd.name, "an EXEC/SYSTEM address")
    files, outputs = [], []
    if cmd.name == "curl":
        files += option_values(args, "-T", "--upload-file")
        files += [v[1:] for v in option_values(args, *_CURL_DATA) if v[:1] == "@" and v != "@-"]
        forms = (re.match(r"^[^=]*=[@<]([^;]+)", v) for v in option_values(args, "-F", "--form"))
        files += [m.group(1) for m in forms if m and m.group(1) != "-"]
        outputs = option_values(args, "-o", "--output")
    elif cmd.name == "wget":
        files += option_values(args, "--post-file", "--body-file")
        outputs = [o for o in option_values(args, "-O", "--output-document") if o != "-"]
        outputs += option_values(args, "-P", "--directory-prefix", "-o", "--output-file")
    elif cmd.stdin and cmd.stdin.kind == "file":
        files.append(cmd.stdin.text)  # nc host port < file
    return first_hard([each(write_verdict, cmd, outputs, zones), upload(cmd, files, zones)])
