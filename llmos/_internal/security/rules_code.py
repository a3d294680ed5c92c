"""Rules every command gets: shell history switched off or cleared, and the patterns of
interpreter one-liners themselves (fork loops, sockets wired to a shell, decoded code run,
secret environment variables read, downloaded code run). The shell commands a one-liner runs
are analysed by `shell_code` as commands of their own."""

from __future__ import annotations

import re

from llmos._internal.security.decision import Decision, deny
from llmos._internal.security.lazy_regex import LazyRegex
from llmos._internal.security.rule_kit import flag, positionals
from llmos._internal.security.shell_types import Command
from llmos._internal.security.verdicts import reverse_shell
from llmos._internal.security.zones import Zones


def _hides_history(name: str, value: str) -> bool:
    if name == "HISTFILE":
        return True
    if name in ("HISTSIZE", "HISTFILESIZE", "SAVEHIST"):
        return value.strip() in ("", "0")
    return name == "HISTIGNORE" and "*" in value


def history(cmd: Command, zones: Zones) -> Decision | None:
    settings = list(cmd.assignments)
    if cmd.name in ("export", "declare", "typeset", "local", "readonly", "unset"):
        for a in positionals(cmd.args):
            name, eq, value = a.partition("=")
            if eq or cmd.name == "unset":
                settings.append((name, value))
    tampered = any(_hides_history(n, value) for n, value in settings)
    if cmd.name == "history":
        tampered |= flag(cmd.args, "c") or flag(cmd.args, "d")
    if cmd.name == "set":
        tampered |= "+o" in cmd.args and "history" in cmd.args
    if not tampered:
        return None
    return deny(
        "history-tampering",
        "The command would clear or switch off shell history. Leave history settings alone.",
    )


_FORK = LazyRegex(r"\bfork\b")
_LOOP = LazyRegex(r"\b(while|loop|for|until|repeat|forever)\b")
# An endless loop, and a call that starts a process without waiting for it.
_ENDLESS_LOOP = LazyRegex(
    r"while\s*\(?\s*(True|1|true|!0)\s*\)?\s*[:{]|while\s*\(\s*(1|true)\s*\)|for\s*\(\s*;\s*;\s*\)"
    r"|\bloop\s*(do\b|\{)|\b1\s+while\b|\bwhile\s+1\b|\buntil\s+false\b|\bwhile\s+true\b"
    r"|\bsetInterval\s*\("
)
_SPAWN_NO_WAIT = LazyRegex(
    r"\bPopen\b|\bspawn\s*\(|\bProcess\.spawn\b|\bfork\b|\bexec(File)?\s*\((?!Sync)"
    r"|system\s*\([^)]*&\s*['\"]|\bdetached\s*:\s*true|os\.spawn\w*\(\s*os\.P_NOWAIT"
    r"|Process\(.*\)\.start\(\)"
)
_SOCKET = LazyRegex(
    r"socket|fsockopen|TCPSocket|TCPClient|IO::Socket|net\.(connect|Socket|createConnection)"
    r"|require\(\s*['\"](node:)?net['\"]\s*\)|\bcreateConnection\(|/dev/tcp|/inet[46]?/(tcp|udp)/"
)
_SPAWN = LazyRegex(
    r"/bin/\w*sh\b|\bdup2\b|pty\.spawn|\bexec\w*\(|subprocess|\bspawn|\bsystem\(|popen"
    r"|cmd\.exe|child_process|\|&\s*getline|getline\s*<\s*\w"
)
_DECODE = LazyRegex(
    r"b64decode|b32decode|decode_base64|base64|atob\(|fromhex|unhexlify|decodestring"
    r"|codecs\.decode|rot.?13|zlib\.decompress|marshal\.loads|unpack\(\s*['\"][mH]"
    r"|Buffer\.from\([^)]*['\"](base64|hex)|FromBase64String"
)
_EXEC = LazyRegex(
    r"\b(exec|eval|system|popen|spawn\w*|execSync|Function|compile|Invoke-Expression|iex"
    r"|instance_eval|check_output|check_call|call|run|getoutput)\s*\(|\bsubprocess\b|`|\bqx\b"
)
_ENV_READ = LazyRegex(  # a secret variable read, or the whole environment printed
    r"(os\.environ|process\.env|\bENV|getenv|\$ENV)\W{0,4}"
    r"(?i:\w*(SECRET|TOKEN|PASSWORD|PASSWD|API_?KEY|ACCESS_KEY|PRIVATE_KEY)\w*)"
    r"|(?<![\w.])(print|console\.log|console\.dir|puts|pp|p|json\.dumps|JSON\.stringify"
    r"|print_r|var_dump|var_export|Dumper)\s*\(?\s*(dict\()?"
    r"(os\.environ|process\.env|ENV|%ENV|\\%ENV|\$_ENV|\$_SERVER|getenv\(\s*\))(?!\s*[\[.(])"
    r"|\bkeys\s*%ENV|\bENV\.(each|to_h|to_a|inspect|map)\b|Object\.(entries|keys)\(\s*process\.env"
    # the whole environment turned into text (to print, write or send it)
    r"|\b(str|repr|json\.dumps|JSON\.stringify|\.write|\.send|\.post|pprint)\s*\(\s*"
    r"(dict\s*\(\s*)?(os\.environ|process\.env)\s*\)?\s*[),]"
)
# The environment iterated over, in a program that prints or sends what it finds.
_ENV_ITERATED = LazyRegex(
    r"(os\.environ|process\.env|\bENV)\.(items|values|keys|each|each_pair|entries)\b"
    r"|Object\.(entries|values)\(\s*process\.env|\bfor\s+\w+(\s*,\s*\w+)?\s+in\s+os\.environ"
)
_OUTPUT = LazyRegex(r"\bprint|\bputs\b|\bp\s|console\.|\.write|json\.dump|\bsend|\bpost\(|urlopen")
# A one-liner that is nothing but the environment (``node -p process.env``).
_ENV_ALONE = LazyRegex(r"\s*(process\.env|ENV|ENV\.to_h|%ENV|os\.environ|getenv\(\s*\))\s*;?\s*")
_FETCH = LazyRegex(
    r"urlopen|urllib|requests\.(get|post)|https?\.get|fetch\(|Net::HTTP|open-uri|LWP"
    r"|HTTP::Tiny|WebClient|DownloadString|Invoke-WebRequest|\biwr\b|curl|wget"
)


def inline_code(cmd: Command, zones: Zones) -> Decision | None:
    """Interpreter one-liners (python -c, perl -e, ...): the shell they run is analysed by
    `shell`; here are the patterns of the languages themselves."""
    for lang, code in cmd.code:
        if (_FORK.search(code) and _LOOP.search(code)) or (
            _ENDLESS_LOOP.search(code) and _SPAWN_NO_WAIT.search(code)
        ):
            return deny(
                "fork-bomb",
                f"The {lang} program starts processes in an endless loop. Don't run it.",
            )
        if _SOCKET.search(code) and _SPAWN.search(code):
            return reverse_shell(cmd.name, f"the {lang} one-liner wires a socket to a process")
        if _DECODE.search(code) and _EXEC.search(code):
            return deny(
                "obfuscated-exec",
                f"The {lang} one-liner decodes hidden text and executes it. Run the decoded "
                "commands directly, as plain text, so they can be checked.",
            )
        iterated = _ENV_ITERATED.search(code) is not None and _OUTPUT.search(code) is not None
        if _ENV_READ.search(code) or _ENV_ALONE.fullmatch(code) or iterated:
            return deny(
                "secret-env",
                f"The {lang} one-liner reads secret environment variables or prints the whole "
                "environment. Use secrets only where needed, without printing them.",
            )
        if _FETCH.search(code) and re.search(r"\b(exec|eval|iex|Invoke-Expression)\b", code):
            return deny(
                "pipe-to-shell",
                f"The {lang} one-liner downloads code and runs it. Save it to a file inside "
                f"{zones.workdir}, read it, then run it as a separate command.",
            )
    return None
