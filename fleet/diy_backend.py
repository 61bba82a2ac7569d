"""A DIY backend on local disk (`file://`), read as files: the stacks' outputs without a CLI process, and the
empty metadata files a killed process leaves, which the CLI then cannot read past.

Both follow the CLI's own layout when `.pulumi/meta.yaml` says version 1 (pulumi/pulumi pkg/backend/diy,
store.go projectReferenceStore.StackBasePath; meta.go). Every other backend gives nothing here: the CLI reads it.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

from providers.properties import StackOutputs

__all__ = ["checkpoint_outputs", "empty_sidecars"]

# A secret in a checkpoint is an object whose signature key is this, beside its ciphertext (pulumi/pulumi
# sdk/go/common/resource/sig/sig.go, Key); only the CLI decrypts it.
_SECRET_SIG = "4dabf18193072939515e22adb298388d"  # noqa: S105 -- a type tag, not a secret


def _root(backend_url: str) -> Path | None:
    """The backend's `.pulumi` directory when the URL is `file://` and the layout version 1; else None."""
    url = urlsplit(backend_url)
    if url.scheme != "file":
        return None
    root = Path(os.path.expanduser(unquote(url.netloc + url.path))) / ".pulumi"
    try:
        meta = yaml.safe_load((root / "meta.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return None
    return root if isinstance(meta, dict) and meta.get("version") == 1 else None


def empty_sidecars(backend_url: str) -> list[Path]:
    """The backend's zero-byte `.attrs` files, sorted; [] for any other backend.

    Under `file://`, gocloud.dev's fileblob keeps each file's metadata (content type, MD5) in FILE.attrs
    and rewrites it in place (os.Create, then the JSON), outside the temporary file and rename that make
    FILE's own write atomic (gocloud.dev blob/fileblob/attrs.go, setAttrs; seen by git-pkgs/proxy#328).
    A process killed between the two leaves it empty; every CLI command that reads FILE then fails with
    a bare `EOF` (`pulumi stack ls` for every stack). A missing sidecar reads as the defaults (getAttrs),
    so deleting an empty one loses nothing.
    """
    root = _root(backend_url)
    if root is None:
        return []
    found = []
    for path in root.rglob("*.attrs"):
        try:
            if path.is_file() and path.stat().st_size == 0:
                found.append(path)
        except OSError:
            continue
    return sorted(found)


def checkpoint_outputs(backend_url: str, project: str, stacks: Iterable[str]) -> dict[str, StackOutputs | None]:
    """The stacks' outputs read from a DIY backend's checkpoint files on local disk, by stack (None: not
    in the backend, never deployed); no CLI process.

    A stack's checkpoint is `.pulumi/stacks/PROJECT/STACK.json`, or `.json.gz`. Left out, for the CLI to read:
    every stack of any other backend or layout, a zstd checkpoint, a file this reader does not know, an
    output only the CLI can decrypt.
    """
    root = _root(backend_url)
    if root is None:
        return {}
    found: dict[str, StackOutputs | None] = {}
    for stack in stacks:
        plain, gzipped, zstd = (root / "stacks" / project / f"{stack}.json{end}" for end in ("", ".gz", ".zst"))
        try:
            if plain.exists():
                document = json.loads(plain.read_bytes())
            elif gzipped.exists():
                document = json.loads(gzip.decompress(gzipped.read_bytes()))
            elif zstd.exists():
                continue
            else:
                found[stack] = None
                continue
            outputs = _stack_outputs(document)
            if outputs is None or _SECRET_SIG not in json.dumps(outputs):
                found[stack] = StackOutputs.of(outputs) if outputs else None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
    return found


def _stack_outputs(document: Mapping[str, Any]) -> dict[str, Any] | None:
    """The root stack resource's outputs in a checkpoint file (apitype.VersionedCheckpoint), None when none."""
    latest = document["checkpoint"].get("latest") or {}
    for resource in latest.get("resources") or []:
        if resource["type"] == "pulumi:pulumi:Stack":
            return resource.get("outputs") or None
    return None
