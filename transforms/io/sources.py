"""Turn the paths a user names (files, folders, globs, gs:// prefixes) into input files."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from apache_beam.io.filesystems import FileSystems

from sceneline.schemas.failures import UserError
from sceneline.schemas import InputFile
from sceneline.transforms.io.media_io import is_local, local_path

_GLOB_CHARS = set("*?[")


class InputNotFoundError(UserError, FileNotFoundError):
    """A path or pattern that names nothing."""


@dataclass
class Listing:
    files: list[InputFile] = field(default_factory=list)
    hidden_skipped: int = 0


def _is_hidden(relative_parts: Iterable[str]) -> bool:
    return any(part.startswith(".") for part in relative_parts)


def _list_local(path: str, listing: Listing, seen: set[str]) -> None:
    def add(p: Path) -> None:
        uri = str(p.resolve())
        if uri not in seen:
            seen.add(uri)
            listing.files.append(InputFile(uri=uri, size_bytes=p.stat().st_size))

    p = Path(path).expanduser()
    if p.is_file():
        add(p)
        return
    if p.is_dir():
        for root, dirs, files in os.walk(p, followlinks=False):
            # Hidden folders are pruned, not descended (`.git`, `.sceneline` ...).
            hidden_dirs = [d for d in dirs if d.startswith(".")]
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            listing.hidden_skipped += len(hidden_dirs)
            for name in sorted(files):
                if name.startswith("."):
                    listing.hidden_skipped += 1
                    continue
                fp = Path(root) / name
                if fp.is_file():
                    add(fp)
        return
    if _GLOB_CHARS & set(path):
        matches = sorted(glob.glob(os.path.expanduser(path), recursive=True))
        if not matches:
            raise InputNotFoundError(f"no file matches the pattern {path!r}")
        for m in matches:
            mp = Path(m)
            if _is_hidden(mp.relative_to(mp.anchor).parts[-1:]):
                listing.hidden_skipped += 1
                continue
            if mp.is_file():
                add(mp)
            elif mp.is_dir():
                _list_local(m, listing, seen)
        return
    raise InputNotFoundError(f"no such file or folder: {path}")


def _list_remote(uri: str, listing: Listing, seen: set[str]) -> None:
    """gs:// (or any Beam filesystem): a glob, an object, or a prefix listed recursively."""
    if _GLOB_CHARS & set(uri):
        patterns = [uri]
        prefix = uri[: min(uri.index(c) for c in _GLOB_CHARS if c in uri)].rsplit("/", 1)[0] + "/"
    elif uri.endswith("/"):
        patterns, prefix = [uri + "**"], uri
    else:
        # An object, or a prefix given without its trailing slash.
        patterns, prefix = [uri, uri.rstrip("/") + "/**"], uri.rstrip("/") + "/"
    found = False
    for result in FileSystems.match(patterns):
        for meta in result.metadata_list:
            found = True
            relative = meta.path[len(prefix):] if meta.path.startswith(prefix) else meta.path
            if meta.path.endswith("/"):
                continue  # a "folder" placeholder object
            if _is_hidden(relative.split("/")):
                listing.hidden_skipped += 1
                continue
            if meta.path not in seen:
                seen.add(meta.path)
                listing.files.append(InputFile(uri=meta.path, size_bytes=meta.size_in_bytes))
    if not found:
        raise InputNotFoundError(f"nothing found at {uri}")


def list_inputs(paths: Sequence[str]) -> Listing:
    """Every input file named by `paths`, each once, in a stable order.

    Raises InputNotFoundError (before any work starts) when a path names nothing.
    """
    listing = Listing()
    seen: set[str] = set()
    for path in paths:
        if is_local(path):
            _list_local(local_path(path), listing, seen)
        else:
            _list_remote(path, listing, seen)
    return listing
