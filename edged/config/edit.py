"""Change one entry of the config file the way a person would: comments, key order kept.

The HTTP API adds, replaces and removes sources and pipelines at run time; the
change is written back to the YAML file so that it survives a restart. The
file is edited as a round-trip document (ruamel.yaml), so its comments, key
order, quoting and flow style stay as they were, and it is replaced
atomically: a temporary file in the same directory, fsync, rename, with the
previous file kept as ``<name>.bak``. A crash at any point leaves either the
old file or the new one, never half of one.

ruamel writes YAML 1.2 and edged reads YAML 1.1 (PyYAML): what is written is
what the loader reads back. A string it would take for something else (``on``,
``no``, ``12:30``) is quoted, and a float gets its dot (``1.0e-05``).

A file that changed on disk since edged last read it is not overwritten:
``FileStamp`` records what was read, and the caller compares it first.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Set, Union

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.scalarstring import ScalarString, SingleQuotedScalarString
from ruamel.yaml.util import load_yaml_guess_indent

from edged.config.load import reads_as_float, reads_as_string
from edged.files import atomic_write

__all__ = [
    "BACKUP_SUFFIX",
    "SECTIONS",
    "EditError",
    "FileStamp",
    "SaveError",
    "StaleFileError",
    "edit_entry",
    "entries",
    "stamp_of",
    "stamp_text",
    "write_atomically",
]

#: The lists of the config file whose entries can be edited, by their key there.
SECTIONS = ("sources", "pipelines")
BACKUP_SUFFIX = ".bak"


class EditError(ValueError):
    """An edit that cannot be made to this file (``hint`` says what to do)."""

    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.message = message
        self.hint = hint


class StaleFileError(EditError):
    """The file on disk is not the one edged last read: someone edited it meanwhile."""

    def __init__(self, path: Union[str, Path], was: FileStamp, now: FileStamp):
        super().__init__(
            f"{path} changed on disk since edged last read it "
            f"(read: {was.describe()}; now: {now.describe()}); it was not overwritten",
            "reload edged first (SIGHUP or POST /api/reload), check the result, "
            "then repeat the change",
        )
        self.path = str(path)
        self.was = was
        self.now = now


class SaveError(EditError):
    """The new file could not be written; the old one is unchanged, nothing was applied."""

    def __init__(self, path: Union[str, Path], exc: OSError):
        reason = exc.strerror or str(exc)
        # A symlinked config: the files are written next to its target.
        directory = Path(os.path.realpath(path)).parent
        super().__init__(
            f"cannot save {path}: {reason}; nothing was changed",
            f"edged must be able to create files in {directory} (a temporary file "
            "and the .bak are written next to the config file"
            f"{'' if directory == Path(path).parent else ', which ' + str(path) + ' links to'}"
            f"); under systemd add ReadWritePaths={directory} and give edged's user write "
            "access, or set sinks.http.manage: false",
        )
        self.path = str(path)


class FileStamp(NamedTuple):
    """What a config file held when it was read: its text's sha256 and mtime."""

    sha256: str
    mtime_ns: Optional[int]

    def describe(self) -> str:
        return f"sha256 {self.sha256[:12]}…, mtime_ns {self.mtime_ns}"


def stamp_text(text: str, mtime_ns: Optional[int] = None) -> FileStamp:
    return FileStamp(hashlib.sha256(text.encode("utf-8")).hexdigest(), mtime_ns)


def stamp_of(path: Union[str, Path], text: str) -> FileStamp:
    """The stamp of ``text`` just read from ``path`` (mtime read after the text)."""
    try:
        mtime_ns: Optional[int] = os.stat(path).st_mtime_ns
    except OSError:
        mtime_ns = None
    return stamp_text(text, mtime_ns)


def _yaml(text: str) -> YAML:
    """A round-trip YAML that writes with the indentation the file already uses."""
    _, indent, block_seq_indent = load_yaml_guess_indent(text)
    yaml = YAML(typ="rt")
    yaml.Representer = _Representer
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long GStreamer pipeline or URI onto two lines
    offset = block_seq_indent or 0
    sequence = max(indent or 2, offset + 2)
    yaml.indent(mapping=_mapping_indent(text), sequence=sequence, offset=offset)
    return yaml


def _mapping_indent(text: str) -> int:
    """How far the file indents a mapping under a top-level key (``sinks:\n  http:``)."""
    previous = ""
    for line in text.splitlines():
        stripped = line.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        top_key = previous[:1].isalpha() and previous.rstrip().endswith(":")
        if top_key and line[:1] == " " and not stripped.startswith("-"):
            return len(line) - len(stripped)
        previous = line
    return 2


def edit_entry(
    text: str,
    section: str,
    ident: Optional[str],
    entry: Optional[Mapping[str, Any]],
) -> str:
    """The file text with entry ``ident`` of ``section`` added, replaced or removed.

    ``entry`` None removes it; an entry with an id not yet in the list is
    appended; otherwise the existing mapping is updated in place, so the
    comments on its keys and their order survive.
    """
    if section not in SECTIONS:
        raise ValueError(f"unknown section {section!r}")
    yaml = _yaml(text)
    doc = yaml.load(text)
    if not isinstance(doc, CommentedMap):
        raise EditError(
            "the config file is not a mapping", "fix the file by hand, then reload edged"
        )
    _keep_anchors(doc)
    items = doc.get(section)
    if items is None:
        items = doc[section] = CommentedSeq()
    if not isinstance(items, list):
        raise EditError(
            f"{section} in the config file is not a list", "fix the file by hand, then reload"
        )
    index = next(
        (
            i
            for i, item in enumerate(items)
            if ident is not None and isinstance(item, dict) and item.get("id") == ident
        ),
        None,
    )
    if _anchored(items) or (index is not None and _shares_nodes(items[index])):
        where = section if index is None else f"{section}[{index}] ({ident})"
        raise EditError(
            f"{where}: this entry uses YAML anchors/merge keys: edit it by hand",
            "an anchor (&name), an alias (*name) or a merge key (<<: *name) shares values "
            "between entries, so changing one here would change or miss the others; edit "
            "the config file by hand, then reload edged (POST /api/reload)",
        )
    if entry is None:
        if index is not None:
            del items[index]
    elif index is None:
        items.append(_new_mapping(entry, items))
    else:
        _update_mapping(items[index], entry)
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def _shares_nodes(node: Any) -> bool:
    """Whether ``node`` or anything in it has an anchor, is an alias or merges (``<<``).

    An alias is the very object its anchor names, so it carries the anchor too.
    """
    seen: Set[int] = set()
    todo = [node]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if _anchored(node) or getattr(node, "merge", None):
            return True
        if isinstance(node, dict):
            todo.extend(node.keys())
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    return False


def _keep_anchors(node: Any) -> None:
    """Write every anchor back, also one no alias uses (ruamel would drop those)."""
    seen: Set[int] = set()
    todo = [node]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue  # an alias met again (or a recursive one)
        seen.add(id(node))
        if _anchored(node):
            node.anchor.always_dump = True
        if isinstance(node, dict):
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)


def _anchored(node: Any) -> bool:
    anchor = getattr(node, "anchor", None)
    return anchor is not None and getattr(anchor, "value", None) is not None


def _new_mapping(entry: Mapping[str, Any], siblings: List[Any]) -> CommentedMap:
    """A mapping written in the style of the list's other entries (``{...}`` or block)."""
    new = CommentedMap(_plain(entry))
    if siblings and all(isinstance(s, CommentedMap) and s.fa.flow_style() for s in siblings):
        new.fa.set_flow_style()
    return new


def _update_mapping(target: Any, entry: Mapping[str, Any]) -> None:
    for key in [k for k in target if k not in entry]:
        del target[key]
    for key, value in entry.items():
        if target.get(key) != value:
            target[_plain(key)] = _plain(value)


def _plain(value: Any) -> Any:
    """JSON values as YAML values (dicts keep their key order).

    ruamel writes YAML 1.2, the loader reads YAML 1.1: a string that the loader
    would not read back as that same string (``on``, ``no``, ``12:30``, ``~``)
    is quoted.
    """
    if isinstance(value, Mapping):
        return CommentedMap((_plain(k), _plain(v)) for k, v in value.items())
    if isinstance(value, list):
        return CommentedSeq(_plain(v) for v in value)
    if isinstance(value, str) and not isinstance(value, ScalarString):
        return value if reads_as_string(value) else SingleQuotedScalarString(value)
    return value


class _Representer(RoundTripRepresenter):
    """ruamel's round-trip writer, with floats written so that YAML 1.1 reads them as floats.

    ruamel writes ``1e-05``, which YAML 1.1 reads as a string: it needs a dot
    (``1.0e-05``), as PyYAML itself writes it.
    """

    def represent_yaml11_float(self, data: float) -> Any:
        if data != data:
            text = ".nan"
        elif data in (float("inf"), float("-inf")):
            text = ".inf" if data > 0 else "-.inf"
        else:
            text = repr(data).lower()
            if "." not in text and "e" in text:
                text = text.replace("e", ".0e", 1)
        if not reads_as_float(text):  # cannot happen with repr(); keep ruamel's then
            return self.represent_float(data)
        return self.represent_scalar("tag:yaml.org,2002:float", text)


_Representer.add_representer(float, _Representer.represent_yaml11_float)


def write_atomically(path: Union[str, Path], text: str) -> None:
    """Replace ``path`` with ``text``: temp file, fsync, backup of the old file, rename.

    The old file is kept as ``<name>.bak`` (itself replaced atomically, from a
    copy). Any failure before the rename leaves the old file as it was and
    removes the temporary file. A symlink is followed: its target is replaced.
    The file keeps its mode.
    """
    path = Path(os.path.realpath(path))  # a symlinked config stays a symlink
    atomic_write(
        path,
        text.encode("utf-8"),
        mode=_mode_of(path),
        backup=path.with_name(path.name + BACKUP_SUFFIX),
        make_parents=False,
    )


def _mode_of(path: Path) -> int:
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        return 0o644


def entries(data: Any, section: str) -> List[Dict[str, Any]]:
    """The entries of ``section`` in loaded YAML data (empty when absent or malformed)."""
    items = data.get(section) if isinstance(data, dict) else None
    return [dict(i) for i in items if isinstance(i, dict)] if isinstance(items, list) else []
