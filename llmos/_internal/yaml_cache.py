"""YAML texts kept parsed, so that a replay reads its settings and its trace without loading a
YAML library (PyYAML and its regular expressions cost a replay's start-up about 15 ms).

A file's YAML (config.yaml, project.yaml, policy.yaml, a trace's front matter) is kept as
JSON under the opened workspace's `state/cache/yaml/`, one entry per file, with a hash of the
text it was read from. An entry is used only for that exact text: any edit, by hand or by
llmos, is a miss, and the text is read with YAML again. Data JSON cannot hold exactly (dates,
numeric keys, NaN) is never kept. A broken or missing entry is only a miss.

The entries decide what settings and traces say, so they live where nothing but llmos
writes: `state/` is guarded by the security policy's hard rule and hidden from sandboxed
commands (the bashlex tables' cache lives there for the same reason). A process that opened
no workspace keeps nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from llmos._internal.fsutil import atomic_write_text
from llmos._internal.yaml_text import load_yaml


def load_yaml_file(text: str, source: Path | str) -> Any:
    """`load_yaml(text)`, where `text` is the YAML of the file `source`: from its entry when
    the entry was made from this very text, else parsed and kept. YAMLError if bad."""
    entry = _entry_path(source)
    if entry is None:
        return load_yaml(text)
    digest = _digest(text)
    with contextlib.suppress(OSError, ValueError):  # no entry, a broken one: a miss
        kept = json.loads(entry.read_bytes())
        if isinstance(kept, dict) and kept.get("text") == digest:
            return kept.get("data")
    data = load_yaml(text)
    _keep(entry, digest, data)
    return data


def remember(text: str, source: Path | str, data: Any) -> None:
    """Keep `data` as what `text`, the YAML llmos just wrote into `source`, reads as. Only
    for text written so that YAML reads exactly `data` back (a trace's use counts)."""
    entry = _entry_path(source)
    if entry is not None:
        _keep(entry, _digest(text), data)


def _entry_path(source: Path | str) -> Path | None:
    from llmos._internal.workspace import state_dir_in_use

    state = state_dir_in_use()
    if state is None:
        return None
    name = hashlib.blake2b(os.fsencode(Path(source).absolute()), digest_size=16).hexdigest()
    return state / "cache" / "yaml" / f"{name}.json"


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=20).hexdigest()


def _keep(entry: Path, digest: str, data: Any) -> None:
    """Write the entry if JSON holds `data` exactly (else nothing is kept); atomically, not
    synced to disk: an entry a crash loses is a miss."""
    try:
        encoded = json.dumps({"text": digest, "data": data}, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):  # a date, bytes, a set, NaN...
        return
    if json.loads(encoded)["data"] != data:  # numeric or boolean keys come back as strings
        return
    with contextlib.suppress(OSError):  # a cache: an entry not written is only a miss
        atomic_write_text(entry, encoded, durable=False)
