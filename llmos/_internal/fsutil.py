"""Small file-system helpers shared by every module that writes files."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO

from llmos._internal.recovery import note_temp

# Files at least this large are not hashed for a precondition: their state is "large".
LARGE_FILE_BYTES = 64 * 1024 * 1024


def atomic_write_text(
    path: Path, text: str, *, mode: int | None = None, durable: bool = True
) -> None:
    """Write `text` to `path` so that readers see the old file or the new one, never half of it.

    The data goes to a temporary file in the same folder (same file system, so the final
    rename is atomic), is flushed to disk, then renamed over the target. The file keeps the
    mode it had (a new one gets the usual mode for the umask, not mkstemp's 0600), unless
    `mode` is given. The temporary file is noted in the process's lease (`recovery.py`): if
    the process is killed before the rename, the next command removes it. `durable=False`
    skips the flush to disk, for a cache (a crash may lose the new file, never tear it).
    """
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode, durable=durable)


def atomic_write_bytes(
    path: Path, data: bytes, *, mode: int | None = None, durable: bool = True
) -> None:
    """`atomic_write_text` for bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            mode = 0o666 & ~_UMASK
    # The writer's pid in the name: a file left by a killed writer is known as such.
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp", dir=path.parent
    )
    tmp = Path(tmp_name)
    note_temp(tmp)  # the process's lease: the next command removes it after a crash
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            if durable:
                os.fsync(handle.fileno())
        tmp.replace(path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError) and exc.filename is None and exc.errno is not None:
            # A failed write or fsync names no file: name the one that was being written.
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise


def atomic_write_stream(path: Path, head: bytes, rest: BinaryIO) -> None:
    """Atomically replace `path` with `head` followed by what is left of `rest`, copied in
    chunks (for rewriting the head of a large file without holding it)."""
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o666 & ~_UMASK
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp", dir=path.parent
    )
    tmp = Path(tmp_name)
    note_temp(tmp)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(head)
            shutil.copyfileobj(rest, handle, 1 << 20)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def append_line(path: Path, line: str) -> None:
    """Append one line with a single write(2) on an O_APPEND descriptor.

    Lines written this way are never interleaved or torn by another appender, which is
    what an append-only log needs; a crash can at worst lose the last line.
    """
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _read_umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


# Read once, at import (single-threaded): setting the umask to read it is process-wide.
_UMASK = _read_umask()


def file_state(path: Path) -> str:
    """What is at `path`, as a precondition compares it: `absent`, `dir`, `large` (too big
    to hash cheaply) or `sha256:<hex>` of a file's content. Symlinks are followed."""
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return "absent"
    if stat.S_ISDIR(info.st_mode):
        return "dir"
    if info.st_size >= LARGE_FILE_BYTES:
        return "large"
    return "sha256:" + sha256_file(path)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()
