"""What a goal says, in a form two goals can be compared by: its canonical tokens.

Two goals mean the same to llmos only when their canonical forms are equal (or one is the
other with different values in the same places: llmos/_internal/memory/template.py). The canonical
form keeps what carries meaning and drops only what does not:

- word order is kept ("copy a.txt to b.txt" is not "copy b.txt to a.txt");
- symbols that are part of a token are kept (`C++`, `C#`, `>=`, `!=`, `./build`, `/build`,
  `HEAD^`, `+x`, `.venv`, `1.2.0`, `8080:80`); only sentence punctuation around a token
  goes (a full stop after `notes.txt`, a comma, brackets);
- case is folded for plain words only; file names, identifiers, acronyms and names keep
  theirs (`HELLO.py` is not `hello.py`, `Makefile` is not `makefile`, `US` is not `us`);
  but a name the learned steps never use is only a word of the goal ("a Python script" is
  "a python script": llmos/_internal/memory/template.py);
- politeness at either end ("please", "can you …", "thanks") and a short list of true
  fillers are dropped ("please" anywhere, an article before a word);
- a few spellings of the same thing are unified: contractions ("don't" = "do not"),
  "5 percent" = "5%", typographic quotes = plain ones.

Each token is a literal (a word or a symbol, compared as written) or a *value* of a kind
(a file, a path, a number, a version, a date, an address, a quoted string, an identifier,
a name). Values are what a trace's slots are made of.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Sequence
from typing import Literal, NamedTuple

ValueKind = Literal[
    "url",
    "email",
    "ip",
    "date",
    "pair",
    "version",
    "number",
    "quantity",
    "abspath",
    "path",
    "file",
    "ident",
    "name",
    "quoted",
]


class Token(NamedTuple):
    text: str  # the canonical text (a quoted string keeps its quotes)
    kind: ValueKind | None = None  # None: a literal word or symbol
    value: str = ""  # what the value stands for in a trace's steps (quoted: without quotes)

    @property
    def is_value(self) -> bool:
        return self.kind is not None


_TYPOGRAPHIC = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'"})
_QUOTED = re.compile(r'"([^"\n]*)"|(?<![\w])\'([^\'\n]*)\'(?![\w])|`([^`\n]*)`')
_PLACEHOLDER = re.compile(r"^\x00(\d+)\x00$")
_CONTRACTIONS = [
    (re.compile(r"\b(can)'t\b", re.I), r"\1not"),
    (re.compile(r"\bwon't\b", re.I), "will not"),
    (re.compile(r"\b(\w+)n't\b", re.I), r"\1 not"),
    (re.compile(r"\b(i)'m\b", re.I), r"\1 am"),
    (re.compile(r"\b(\w+)'re\b", re.I), r"\1 are"),
    (re.compile(r"\b(\w+)'ll\b", re.I), r"\1 will"),
    (re.compile(r"\b(i|you|we|they)'ve\b", re.I), r"\1 have"),
    (re.compile(r"\b(i|you|he|she|we|they)'d\b", re.I), r"\1 would"),
    (re.compile(r"\b(it|that|there|what|here|where|who)'s\b", re.I), r"\1 is"),
    (re.compile(r"\b(let)'s\b", re.I), r"\1 us"),
]
_PERCENT = re.compile(r"(\d)\s*(?:per\s*cent|percent)\b", re.I)

# Sentence punctuation around a token; what is left is the token.
_LEADING = "([{"
_TRAILING = ".,;:!?)]}…"
_BREAKS = frozenset(",.;:!?…")
_ONLY_PUNCTUATION = re.compile(r"^[.,;:!?…—–\-]+$")

_VALUE_PATTERNS: list[tuple[ValueKind, re.Pattern[str]]] = [
    ("url", re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://\S+$")),
    ("email", re.compile(r"^[\w.+\-]+@[\w\-]+(\.[\w\-]+)+$")),
    ("ip", re.compile(r"^\d{1,3}(\.\d{1,3}){3}(:\d+)?(/\d{1,2})?$")),
    ("date", re.compile(r"^(\d{4}[-/]\d{1,2}[-/]\d{1,2}|\d{1,2}[/.]\d{1,2}[/.]\d{2,4})$")),
    ("pair", re.compile(r"^\d+(:\d+)+$")),
    ("version", re.compile(r"^(v\d+(\.\d+)*|\d+(\.\d+){2,3})([\-+][\w.]+)?$", re.I)),
    ("number", re.compile(r"^[+\-]?\d+(\.\d+)?%?$")),
    ("quantity", re.compile(r"^\d+(\.\d+)?[A-Za-z]{1,3}$")),
    ("abspath", re.compile(r"^(/|~/|~$)[^\s]*$")),
    ("path", re.compile(r"^[^\s/]*/[^\s]*$")),
    ("file", re.compile(r"^(\.?[\w\-][\w.\-]*\.[A-Za-z0-9]{1,10}|\.[A-Za-z0-9_][\w.\-]*)$")),
    # Files named without an extension by convention (their case is part of the name).
    (
        "file",
        re.compile(
            r"^(Makefile|GNUmakefile|Dockerfile|Containerfile|Vagrantfile|Jenkinsfile|Gemfile"
            r"|Rakefile|Procfile|Pipfile|Justfile|Brewfile|Podfile|Snakefile|Taskfile|Earthfile"
            r"|Tiltfile|Guardfile|Capfile|Berksfile|Cartfile|Fastfile)$"
        ),
    ),
]
_ACRONYM = re.compile(r"^[A-Z]{2,}s?$")
_NAME = re.compile(r"^[A-Z][a-z]+$")
_IDENT = re.compile(
    r"^(?=.*[A-Za-z])[A-Za-z0-9_][A-Za-z0-9_\-]*$"  # letters with digits, '_' or '-' inside,
)
_FLAG = re.compile(r"^(--?[A-Za-z][\w\-]*(=\S*)?|[+\-][A-Za-z]+)$")

# Politeness that may open or close a goal, as sequences of folded words. Greetings open a
# goal only when punctuation follows them ("hello, ..." but not "hello world ..."), thanks
# close it only when punctuation comes before ("..., thanks" but not "reply with thanks").
_OPENERS = [
    s.split()
    for s in (
        "please",
        "pls",
        "plz",
        "kindly",
        "just",
        "now",
        "so",
        "go ahead and",
        "can you",
        "could you",
        "would you",
        "will you",
        "can u",
        "could u",
        "would you mind",
        "i want you to",
        "i would like you to",
        "i need you to",
        "i would like to",
        "i want to",
        "i need to",
        "help me",
        "let us",
    )
]
_GREETINGS = [s.split() for s in ("hey", "hi", "hello", "ok", "okay", "well", "alright")]
_CLOSERS = [s.split() for s in ("please", "now", "again", "for me", "if you can", "if possible")]
_THANKS = [s.split() for s in ("thanks", "thank you", "thx", "ty", "thanks in advance", "cheers")]
_FILLERS = frozenset({"please", "kindly"})
# After these, a polite word is the content: "say please", "reply with thanks".
_QUOTING_WORDS = frozenset({"say", "says", "saying", "said", "with", "word", "reply", "answer"})
_ARTICLES = frozenset({"a", "an", "the"})
# An article before one of these is not an article of a noun ("rename a to b"): kept.
_FUNCTION_WORDS = frozenset(
    "to and or of in on at by for from with into onto as than then is are be".split()
)


@functools.lru_cache(maxsize=1024)  # a goal is read several times when a trace is indexed
def goal_tokens(goal: str) -> tuple[Token, ...]:
    """The canonical tokens of `goal`."""
    text = unicodedata.normalize("NFKC", goal).translate(_TYPOGRAPHIC)
    quoted: list[str] = []

    def park(match: re.Match[str]) -> str:
        quoted.append(next(g for g in match.groups() if g is not None))
        return f" \x00{len(quoted) - 1}\x00 "

    text = _QUOTED.sub(park, text)
    for pattern, replacement in _CONTRACTIONS:
        text = pattern.sub(replacement, text)
    text = _PERCENT.sub(r"\1%", text)
    tokens: list[Token] = []
    breaks: set[int] = set()  # tokens that punctuation follows
    for chunk in text.split():
        parked = _PLACEHOLDER.match(chunk)
        if parked:
            content = quoted[int(parked.group(1))]
            tokens.append(Token(f'"{content}"', "quoted", content))
            continue
        stripped = _strip_punctuation(chunk)
        if stripped:
            tokens.append(_classify(stripped, first=not tokens))
        if tokens and chunk[-1:] in _BREAKS and stripped not in (".", ".."):
            breaks.add(len(tokens) - 1)
    return tuple(_drop_politeness(tokens, breaks))


def canonical(goal: str) -> str:
    """The canonical form: the tokens, space-separated."""
    return " ".join(token.text for token in goal_tokens(goal))


def shape(tokens: Sequence[Token]) -> str:
    """The tokens with every value replaced by its kind: goals that could share a template
    share a shape (the index looks templates up by it)."""
    return " ".join(f"<{t.kind}>" if t.kind else t.text for t in tokens)


def goal_signature(goal: str) -> str:
    """A goal's id: 16 hex digits of the SHA-256 of its canonical form."""
    return hashlib.sha256(canonical(goal).encode("utf-8")).hexdigest()[:16]


def _strip_punctuation(chunk: str) -> str:
    if chunk in (".", ".."):  # the current and the parent folder
        return chunk
    if _ONLY_PUNCTUATION.match(chunk):
        return ""
    start, end = 0, len(chunk)
    while start < end - 1 and chunk[start] in _LEADING:
        start += 1
    while end > start + 1 and chunk[end - 1] in _TRAILING:
        if chunk[end - 1] == "." and chunk[start:end] in (".", ".."):
            break
        end -= 1
    return chunk[start:end]


def _classify(chunk: str, *, first: bool) -> Token:
    for kind, pattern in _VALUE_PATTERNS:
        if pattern.match(chunk):
            return Token(chunk, kind, chunk)
    if chunk == "I":  # the pronoun, wherever it stands
        return Token("i")
    lowered = chunk.lower()
    if _plain_word(lowered) and (chunk.islower() or _title_case_word(chunk, first)):
        return Token(lowered)
    if _FLAG.match(chunk) or _ACRONYM.match(chunk):
        return Token(chunk)
    if _NAME.match(chunk):
        return Token(chunk, "name", chunk)
    if _IDENT.match(chunk) and not chunk.isalpha():
        return Token(chunk, "ident", chunk)
    if chunk.isalpha():  # camelCase, iPhone, GitHub: an identifier, case kept
        return Token(chunk, "ident", chunk)
    return Token(chunk)  # a symbol or a mixed token (`C++`, `>=`, `HEAD^`, `*.py`): literal


def _plain_word(word: str) -> bool:
    """Letters (of any alphabet), with at most one apostrophe inside (a possessive)."""
    head, _, tail = word.partition("'")
    return head.isalpha() and (not tail or tail.isalpha())


def _title_case_word(chunk: str, first: bool) -> bool:
    """A capitalised plain word folds only where a sentence starts (a name keeps its case)."""
    return first and chunk[:1].isupper() and chunk[1:].islower()


def _drop_politeness(tokens: list[Token], breaks: set[int]) -> list[Token]:
    words = [t.text if t.kind is None else None for t in tokens]
    start, end = 0, len(tokens)
    changed = True
    while changed:
        changed = False
        for opener in _OPENERS + _GREETINGS:
            size = len(opener)
            if words[start : start + size] != opener or end - start <= size:
                continue
            if opener in _GREETINGS and start + size - 1 not in breaks:
                continue
            start += size
            changed = True
        for closer in _CLOSERS + _THANKS:
            size = len(closer)
            if words[end - size : end] != closer or end - start <= size:
                continue
            if closer in _THANKS and end - size - 1 not in breaks:
                continue
            if end - size - 1 >= 0 and words[end - size - 1] in _QUOTING_WORDS:
                continue  # "reply with please": the word is what is asked for
            end -= size
            changed = True
    kept: list[Token] = []
    for i in range(start, end):
        token = tokens[i]
        quoted_word = i > start and words[i - 1] in _QUOTING_WORDS
        if token.kind is None and token.text in _FILLERS and end - start > 1 and not quoted_word:
            continue
        if token.kind is None and token.text in _ARTICLES and i + 1 < end:
            after = tokens[i + 1]
            if after.kind is not None or after.text not in _FUNCTION_WORDS | _ARTICLES:
                continue
        kept.append(token)
    return kept
