"""Load a YAML config file and turn every problem into a message a person can act on.

Each message reads ``FILE:LINE: field.path: what is wrong (got VALUE); fix: …``,
and all problems are reported at once, not just the first.
"""

from __future__ import annotations

import difflib
import reprlib
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Type, Union

import yaml
from pydantic import BaseModel, ValidationError
from typing_extensions import Annotated, get_args, get_origin

from edged.config.root import Config, ConfigIssue, CrossReferenceError, verify_references
from edged.config.secrets import SecretError
from edged.config.textfile import TextFileError, read_text_file
from edged.redact import SECRET_NAMES

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_YAML_DEPTH",
    "MAX_YAML_VALUES",
    "ConfigError",
    "load_config",
    "load_config_text",
    "parse_config",
    "reads_as_float",
    "reads_as_string",
    "secret_issues",
]

#: A config is a few kilobytes; anything far larger is the wrong file.
MAX_CONFIG_BYTES = 1024 * 1024
#: Deepest nesting of lists and mappings (PyYAML composes recursively).
MAX_YAML_DEPTH = 50
#: Most values a document may hold once its aliases are expanded (an alias to an
#: alias to ... repeats values exponentially: the "billion laughs" document).
MAX_YAML_VALUES = 100_000

Loc = Tuple[Union[str, int], ...]


class ConfigError(Exception):
    """A config file that cannot be used; ``str()`` lists every problem, one per line."""

    def __init__(self, file: str, issues: Sequence[ConfigIssue], lines: Sequence[Optional[int]]):
        self.file = file
        self.issues = list(issues)
        self.lines = list(lines)
        super().__init__(self.render())

    def render(self) -> str:
        rows = [f"{self.file}: {len(self.issues)} problem(s) in the config:"]
        for issue, line in zip(self.issues, self.lines):
            where = f"{self.file}:{line}" if line else self.file
            got = "" if issue.value is None else f" (got {_short(issue.value)})"
            fix = f"; fix: {issue.hint}" if issue.hint else ""
            rows.append(f"  {where}: {issue.path or '(top level)'}: {issue.message}{got}{fix}")
        return "\n".join(rows)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate and complex keys and nesting past MAX_YAML_DEPTH.

    YAML would silently keep the last of duplicate keys; a list as a key
    (``? [a, b]``) cannot be a config field; PyYAML composes nested
    collections recursively, so 20,000 ``[`` would end in a RecursionError.
    """

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Optional[yaml.Node], index: Any) -> Optional[yaml.Node]:
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"lists and mappings are nested more than {MAX_YAML_DEPTH} levels deep",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: Dict[Any, int] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"a key must be a plain name, not a {key_node.id}",
                key_node.start_mark,
            )
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first on line {seen[key] + 1}); keep only one",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

_STR_TAG = "tag:yaml.org,2002:str"
_FLOAT_TAG = "tag:yaml.org,2002:float"


def _plain_tag(text: str) -> str:
    """The tag this loader gives ``text`` written as a plain (unquoted) scalar."""
    loader = _StrictLoader("")
    try:
        return loader.resolve(yaml.ScalarNode, text, (True, False))
    finally:
        loader.dispose()


def reads_as_string(text: str) -> bool:
    """Whether ``text``, written unquoted, is read back by this loader as that string.

    The loader is YAML 1.1: ``on``, ``no``, ``12:30`` (sexagesimal) and ``~``
    are not strings to it, though a YAML 1.2 writer leaves them unquoted.
    """
    return _plain_tag(text) == _STR_TAG


def reads_as_float(text: str) -> bool:
    """Whether ``text``, written unquoted, is read back by this loader as a float."""
    return _plain_tag(text) == _FLOAT_TAG


def load_config(path: Union[str, Path], *, secrets: bool = False) -> Config:
    """Read, parse and validate a config file; raise ``ConfigError`` listing every problem.

    Only a regular UTF-8 file of at most MAX_CONFIG_BYTES is read: a FIFO or
    ``/dev/zero`` given as the path would otherwise hang ``edged check``.
    With ``secrets``, every secret the config names is read too, and one that
    cannot be used (missing file, unset variable, empty) is a problem like any
    other. ``edged check``, ``edged run`` and a reload all load this way, so
    they agree on which configs can run.
    """
    return load_config_text(path, secrets=secrets)[0]


def load_config_text(path: Union[str, Path], *, secrets: bool = False) -> Tuple[Config, str]:
    """As ``load_config``, and the text it was validated from (to tell later edits on disk)."""
    path = Path(path)
    try:
        text = read_text_file(path, MAX_CONFIG_BYTES)
    except OSError as exc:
        raise _file_error(path, f"cannot read the file: {exc.strerror}", "check the path") from None
    except TextFileError as exc:
        message = f"cannot use the file: {exc.message}"
        raise _file_error(path, message, exc.hint, exc.line) from None
    return parse_config(text, str(path), secrets=secrets), text


def _file_error(path: Path, message: str, hint: str, line: Optional[int] = None) -> ConfigError:
    return ConfigError(str(path), [ConfigIssue("", message, None, hint)], [line])


def parse_config(text: str, file: str = "<config>", *, secrets: bool = False) -> Config:
    """Validate YAML text; ``file`` only labels the messages; ``secrets`` as in load_config."""
    try:
        node, data = _parse_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        issue = ConfigIssue("", f"not valid YAML: {problem}", None, "fix the YAML syntax there")
        raise ConfigError(file, [issue], [line]) from None
    except _TooManyValues as exc:
        issue = ConfigIssue(
            "",
            f"the document expands to more than {MAX_YAML_VALUES} values "
            "(aliases such as *a repeat what they refer to)",
            None,
            "write the values out or use fewer nested aliases; a config needs far fewer",
        )
        raise ConfigError(file, [issue], [exc.line]) from None
    if not isinstance(data, dict):
        issue = ConfigIssue(
            "",
            "the file must be a mapping with keys such as sources, pipelines, sinks",
            None,
            "see examples/synthetic.yaml",
        )
        raise ConfigError(file, [issue], [1]) from None
    try:
        config = Config.model_validate(data)
    except CrossReferenceError as exc:
        issues = exc.issues
    except ValidationError as exc:
        issues = [_issue_from_error(err, data) for err in exc.errors()]
        issues += verify_references(data)
    else:
        issues = secret_issues(config) if secrets else []
        if not issues:
            return config
    raise ConfigError(file, issues, [_line_of(node, _loc_of(i.path, data)) for i in issues])


def secret_issues(model: BaseModel, path: str = "") -> List[ConfigIssue]:
    """Read every secret in ``model`` and the models inside it, as the parts will at start.

    A secret is whatever a model resolves in a ``resolved_*`` method, so a new
    secret field is checked as soon as it gets one.
    """
    issues: List[ConfigIssue] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        for suffix, child in enumerate(value) if isinstance(value, list) else [(None, value)]:
            if isinstance(child, BaseModel):
                here = f"{path}.{name}" if path else name
                issues += secret_issues(child, here if suffix is None else f"{here}[{suffix}]")
    for attr in dir(type(model)):
        if attr.startswith("resolved_") and callable(getattr(model, attr)):
            try:
                getattr(model, attr)()
            except SecretError as exc:
                where = f"{path}.{exc.field}" if path else exc.field
                issues.append(ConfigIssue(where, exc.message, None, exc.hint))
    return issues


class _TooManyValues(Exception):
    def __init__(self, line: int):
        super().__init__(line)
        self.line = line


def _parse_yaml(text: str) -> Tuple[Optional[yaml.Node], Any]:
    """The document's node tree and its Python data, composed once.

    The expanded size is checked between the two steps: the node tree shares
    aliased nodes, so it stays small however often they repeat, while the
    validation and error reporting after it walk every repetition.
    """
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _count_values(node, {})
        return node, loader.construct_document(node)
    finally:
        loader.dispose()


def _count_values(node: yaml.Node, counted: Dict[int, int]) -> int:
    """Values in ``node`` with aliases expanded; each distinct node is visited once."""
    known = counted.get(id(node))
    if known is not None:
        return known
    total = 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            total += _count_values(key, counted) + _count_values(value, counted)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            total += _count_values(item, counted)
    if total > MAX_YAML_VALUES:
        raise _TooManyValues(node.start_mark.line + 1)
    counted[id(node)] = total
    return total


def _issue_from_error(err: Dict[str, Any], data: Any) -> ConfigIssue:
    loc, owner = _resolve(err["loc"])
    kind = err["type"]
    message = err["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    value = None if kind in ("missing", "extra_forbidden") else err.get("input")
    if isinstance(value, dict):
        value = None  # a whole section: its line says more than its repr
    if any(isinstance(part, str) and part.lower() in SECRET_NAMES for part in loc):
        value = None  # a password written as a number (a camera's PIN) is still a secret
    refused = getattr(owner, "refused_keys", {}).get(loc[-1]) if loc else None
    if kind == "extra_forbidden" and refused is not None:  # a key of a sibling kind
        return ConfigIssue(_format_path(loc), refused[0], None, refused[1])
    return ConfigIssue(_format_path(loc), message, value, _hint(kind, loc, owner))


def _resolve(loc: Loc) -> Tuple[Loc, Optional[Type[BaseModel]]]:
    """Walk pydantic's loc along the model types: drop union tags, find the owning model.

    pydantic puts the chosen union member into the loc (``sources.1.rtsp.uri``);
    a person wants the path as written in the file (``sources[1].uri``).
    """
    out: List[Union[str, int]] = []
    owner: Optional[Type[BaseModel]] = None
    current: Any = Config
    for part in loc:
        current = _unwrap(current)
        members = _union_members(current)
        if members and isinstance(part, str):
            current = _member_for_tag(members, part)
            continue
        if _is_model(current) and isinstance(part, str) and _member_for_tag((current,), part):
            continue  # the tag of a discriminated union that has a single member
        if _is_model(current):
            owner = current
            field = current.model_fields.get(part) if isinstance(part, str) else None
            current = field.annotation if field is not None else None
        elif get_origin(current) in (list, tuple) and isinstance(part, int):
            current = get_args(current)[0] if get_args(current) else None
        elif get_origin(current) is dict:
            current = get_args(current)[1] if get_args(current) else None
        else:
            current = None
        out.append(part)
    return tuple(out), owner


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated[...] and Optional[...] (pydantic adds no loc element for them)."""
    while True:
        origin = get_origin(annotation)
        args = get_args(annotation)
        if origin is Annotated:
            annotation = args[0]
        elif origin is Union and type(None) in args and len(args) == 2:
            annotation = next(a for a in args if a is not type(None))
        else:
            return annotation


def _union_members(annotation: Any) -> Tuple[Any, ...]:
    return get_args(annotation) if get_origin(annotation) is Union else ()


def _member_for_tag(members: Tuple[Any, ...], tag: str) -> Any:
    for member in members:
        model = _unwrap(member)  # a member may be Annotated[Model, Tag(...)]
        for key in ("kind", "type"):
            field = model.model_fields.get(key) if _is_model(model) else None
            if field is not None and tag in get_args(field.annotation):
                return member
        name = getattr(get_origin(member) or member, "__name__", str(member))
        if tag.split("[")[0] == name:
            return member
    return None


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _hint(kind: str, loc: Loc, model: Optional[Type[BaseModel]]) -> str:
    field = loc[-1] if loc else None
    if kind == "extra_forbidden" and model is not None and isinstance(field, str):
        known = sorted(model.model_fields)
        close = difflib.get_close_matches(field, known, n=1)
        maybe = f"did you mean {close[0]!r}? " if close else ""
        return f"{maybe}remove it; known keys here: {', '.join(known)}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return "set kind to one of the kinds listed above"
    if kind == "gauge_type":
        return "set type: digital for a seven-segment display, or remove type for a dial"
    if model is not None and isinstance(field, str) and field in model.model_fields:
        description = model.model_fields[field].description
        if description:
            return f"{field} is: {description}"
    return ""


def _format_path(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _loc_of(path: str, data: Any) -> Loc:
    parts: List[Union[str, int]] = []
    for token in path.replace("[", ".[").split("."):
        if not token:
            continue
        parts.append(int(token[1:-1]) if token.startswith("[") else token)
    return tuple(parts)


def _line_of(node: Optional[yaml.Node], loc: Loc) -> Optional[int]:
    """The 1-based line of the deepest YAML node that ``loc`` reaches."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == part), None)
            key = next((k for k, v in node.value if k.value == part), None)
            if match is None:
                return line
            line = key.start_mark.line + 1 if key is not None else line
            node = match
            if not isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
                line = node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 6
_REPR.maxstring = _REPR.maxother = 80


def _short(value: Any, limit: int = 60) -> str:
    """A bounded repr: a value may be a huge nested list, which repr() would spell out."""
    text = _REPR.repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
