"""A DIY backend on local disk (`file://`), read as files: the stacks' outputs without a CLI process, and the
empty metadata files a killed process leaves, which the CLI then cannot read past.

The outputs follow the CLI's own layout when `.pulumi/meta.yaml` says version 1 (pulumi/pulumi
pkg/backend/diy, store.go projectReferenceStore.StackBasePath; meta.go); the metadata files are looked
for anywhere under `.pulumi`. Every other backend gives nothing here: the CLI reads it.
"""

from __future__ import annotations

import gzip
import json
import os
import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

from providers.common.outside_text import one_line
from providers.properties import StackOutputs

__all__ = ["checkpoint_outputs", "empty_sidecars", "empty_sidecars_failure"]

# What the CLI says, and only that, when it meets an empty metadata file: `pulumi stack ls` and `stack
# select` "EOF", a stack's own commands "failed to load checkpoint: EOF" (seen with v3.274.1).
_UNREADABLE = ("EOF", "failed to load checkpoint: EOF")
# A secret in a checkpoint is an object whose signature key is this, beside its ciphertext (pulumi/pulumi
# sdk/go/common/resource/sig/sig.go, Key); only the CLI decrypts it.
_SECRET_SIG = "4dabf18193072939515e22adb298388d"  # noqa: S105 -- a type tag, not a secret


def _pulumi_dir(backend_url: str) -> Path | None:
    """The backend's `.pulumi` directory when the URL is `file://` (its query, such as `?metadata=skip`, aside)."""
    url = urlsplit(backend_url)
    return Path(os.path.expanduser(unquote(url.netloc + url.path))) / ".pulumi" if url.scheme == "file" else None


def _layout_v1(backend_url: str) -> Path | None:
    """The `.pulumi` directory of a `file://` backend whose `meta.yaml` says layout version 1; else None."""
    root = _pulumi_dir(backend_url)
    try:
        meta = yaml.safe_load((root / "meta.yaml").read_text()) if root else None
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
    so deleting an empty one loses nothing. `file://DIR?metadata=skip` writes no sidecars (fileblob.go,
    MetadataDontWrite), but an empty one already there still breaks reads.
    """
    root = _pulumi_dir(backend_url)
    if root is None or not root.is_dir():
        return []
    found = []
    for path in root.rglob("*.attrs"):
        try:
            if path.is_file() and path.stat().st_size == 0:
                found.append(path)
        except OSError:
            continue
    return sorted(found)


def empty_sidecars_failure(backend_url: str, line: str) -> str | None:
    """One line naming the empty metadata files to delete, when `line` (the CLI's last) is what it says on
    meeting one and the backend holds some; else None."""
    damaged = empty_sidecars(backend_url) if line in _UNREADABLE else []
    if not damaged:
        return None
    named = ", ".join(f"'{one_line(str(path), 300)}'" for path in damaged[:3])
    if len(damaged) > 3:
        root = shlex.quote(one_line(str(_pulumi_dir(backend_url)), 300))
        named += f" and {len(damaged) - 3} more (`find {root} -name '*.attrs' -size 0` lists them)"
    return (
        f"the CLI cannot read the backend past an empty metadata file, left by a process killed while writing it "
        f"({line}): delete {named} (a missing one reads as its defaults; no state is lost), then run again"
    )


def checkpoint_outputs(backend_url: str, project: str, stacks: Iterable[str]) -> dict[str, StackOutputs | None]:
    """The stacks' outputs read from a DIY backend's checkpoint files on local disk, by stack (None: not
    in the backend, never deployed); no CLI process.

    A stack's checkpoint is `.pulumi/stacks/PROJECT/STACK.json`, or `.json.gz`. Left out, for the CLI to read:
    every stack of any other backend or layout, a zstd checkpoint, a file this reader does not know, an
    output only the CLI can decrypt.
    """
    root = _layout_v1(backend_url)
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
