"""Signed trace libraries: who made a shared library, and that nobody changed it since.

`llmos traces export DIR` signs the library with the workspace's ed25519 key (made on the
first export, `state/signing_key`, mode 0600, beside its public half `signing_key.pub`;
`state/` is guarded by the hard rule `llmos-state` and hidden from sandboxed commands).
The signature is a manifest, `DIR/llmos-library.json`: each trace file's SHA-256, the
public key, and an ed25519 signature over both.

`llmos traces import` reads the manifest: a file listed with another hash, or a manifest
whose signature does not verify, is refused; a file the manifest does not list (or a
folder without one) is unsigned. Signed by a key of `llmos traces keys` (added with
`--trust-key`): imported as trusted; signed by any other key or unsigned: imported
untrusted (llmos/_internal/security/trust.py).

`cryptography` is imported only here, and only by the commands that sign or verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmos._internal.errors import UsageError
from llmos._internal.frozen import frozen
from llmos._internal.fsutil import atomic_write_text

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

MANIFEST = "llmos-library.json"
_FORMAT = "llmos-trace-library"
PRIVATE_KEY = "signing_key"
PUBLIC_KEY = "signing_key.pub"


class SignatureError(Exception):
    """A library's signature does not verify: it was changed after it was signed."""


@frozen
class Signer:
    """The public half of a key that signs trace libraries, and its id."""

    key_id: str
    public_key: str  # base64 of the raw 32 bytes


@frozen
class Manifest:
    """A library's manifest, its signature verified: the signer and the files it vouches for."""

    signer: Signer
    files: dict[str, str]  # file name -> sha256 of its bytes

    def status_of(self, file: Path) -> str:
        """`signed`, `unsigned` (not listed) or `altered` (listed with another hash)."""
        expected = self.files.get(file.name)
        if expected is None:
            return "unsigned"
        return "signed" if _sha256(file) == expected else "altered"


def key_id(public_key_raw: bytes) -> str:
    return hashlib.sha256(public_key_raw).hexdigest()[:16]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------------- keys


def workspace_key(state_dir: Path) -> tuple[Ed25519PrivateKey, Signer, bool]:
    """The workspace's signing key, made on first use; and whether it was just made."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = state_dir / PRIVATE_KEY
    created = False
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:  # readable by its owner alone, from the moment it exists
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another llmos made it meanwhile: use that one
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
                out.flush()
                os.fsync(out.fileno())
            created = True
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: cannot read the workspace's signing key ({exc})") from exc
    if not isinstance(loaded, Ed25519PrivateKey):
        raise UsageError(f"{path}: not an ed25519 key")
    signer = _signer(loaded)
    public = state_dir / PUBLIC_KEY
    if not public.exists() or public.read_text(encoding="utf-8").strip() != signer.public_key:
        atomic_write_text(public, signer.public_key + "\n")
    return loaded, signer, created


def _signer(key: Ed25519PrivateKey) -> Signer:
    from cryptography.hazmat.primitives import serialization

    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return Signer(key_id(raw), base64.b64encode(raw).decode("ascii"))


def read_public_key(value: str) -> Signer:
    """A public key given on the command line: a file (as `signing_key.pub` holds it, or a
    PEM public key) or the base64 text itself."""
    text = value.strip()
    # An unknown `~user` stays as written (a missing file): Path.expanduser() would raise.
    path = Path(os.path.expanduser(text))  # noqa: PTH111
    if len(text) < 4096 and path.is_file():
        text = path.read_text(encoding="utf-8").strip()
    if text.startswith("-----BEGIN"):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            loaded = serialization.load_pem_public_key(text.encode("ascii"))
        except ValueError as exc:
            raise UsageError(f"not a public key: {exc}") from exc
        if not isinstance(loaded, Ed25519PublicKey):
            raise UsageError("not an ed25519 public key")
        raw = loaded.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise UsageError(
                f"{value!r} is neither a key file nor a base64 ed25519 public key",
                hint="Give the file signing_key.pub from the other workspace's state/ folder.",
            ) from exc
    if len(raw) != 32:
        raise UsageError(f"not an ed25519 public key ({len(raw)} bytes; one has 32)")
    return Signer(key_id(raw), base64.b64encode(raw).decode("ascii"))


# --------------------------------------------------------------------------------- manifests


def _signed_part(signer: Signer, files: dict[str, str]) -> bytes:
    body = {
        "format": _FORMAT,
        "version": 1,
        "key": {"id": signer.key_id, "public_key": signer.public_key},
        "files": dict(sorted(files.items())),
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def sign_library(folder: Path, names: list[str], key: Ed25519PrivateKey) -> Path:
    """Write `folder`'s manifest: the hashes of the files `names`, signed with `key`."""
    signer = _signer(key)
    files = {name: _sha256(folder / name) for name in names}
    signature = key.sign(_signed_part(signer, files))
    manifest = json.loads(_signed_part(signer, files))
    manifest["signature"] = base64.b64encode(signature).decode("ascii")
    path = folder / MANIFEST
    atomic_write_text(path, json.dumps(manifest, indent=2) + "\n")
    return path


def read_manifest(folder: Path) -> Manifest | None:
    """`folder`'s manifest, its signature verified; None when it has none. Raises
    `SignatureError` when it does not verify."""
    path = folder / MANIFEST
    if not path.is_file():
        return None
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        signer = Signer(str(data["key"]["id"]), str(data["key"]["public_key"]))
        files = {str(k): str(v) for k, v in dict(data["files"]).items()}
        signature = base64.b64decode(str(data["signature"]), validate=True)
        raw = base64.b64decode(signer.public_key, validate=True)
        if data.get("format") != _FORMAT or key_id(raw) != signer.key_id:
            raise ValueError("not an llmos library manifest")
        Ed25519PublicKey.from_public_bytes(raw).verify(signature, _signed_part(signer, files))
    except InvalidSignature as exc:
        raise SignatureError(f"{path}: the signature does not verify") from exc
    except (OSError, ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise SignatureError(f"{path}: not a valid signed manifest ({exc})") from exc
    return Manifest(signer, files)
