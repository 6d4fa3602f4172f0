"""Config validation: every malformed file names the file, line, field path and a fix."""

from __future__ import annotations

import json
import os
import textwrap

import pytest

from edged.config import Config, ConfigError, ConfigIssue, load_config, parse_config
from edged.config.load import MAX_CONFIG_BYTES, MAX_YAML_DEPTH, MAX_YAML_VALUES
from edged.config.secrets import SecretError

GOOD = """
device_id: line3
sources:
  - id: cam0
    kind: synthetic
  - id: cam1
    kind: rtsp
    uri: rtsp://10.0.0.7:554/stream1
    reconnect: {initial_s: 0.5, max_s: 30}
pipelines:
  - id: moving
    kind: motion
    source: [cam0, cam1]
sinks:
  jsonl: {path: /tmp/r.jsonl}
"""


def _with(snippet: str) -> str:
    return textwrap.dedent(snippet).strip() + "\n"


GAUGE = (
    "sources:\n  - {{id: a, kind: synthetic}}\n"
    "pipelines:\n  - {{id: p, kind: gauge, source: a, gauges: [{{id: g, {scale}}}]}}\n"
)

# (name, yaml, expected path, expected words in the message or fix)
BAD = [
    (
        "wrong type",
        "sources:\n  - id: a\n    kind: synthetic\n    width: wide\n",
        "sources[0].width",
        "valid integer",
    ),
    (
        "unknown key",
        "sources:\n  - id: a\n    kind: synthetic\n    widht: 5\n",
        "sources[0].widht",
        "did you mean 'width'",
    ),
    (
        "unknown top-level key",
        "sources:\n  - {id: a, kind: synthetic}\nsink: {}\n",
        "sink",
        "did you mean 'sinks'",
    ),
    ("missing field", "sources:\n  - id: a\n    kind: rtsp\n", "sources[0].uri", "Field required"),
    ("missing sources", "device_id: x\n", "sources", "Field required"),
    ("empty sources", "sources: []\n", "sources", "at least 1"),
    (
        "bad URI scheme",
        "sources:\n  - {id: a, kind: rtsp, uri: 'http://cam/x'}\n",
        "sources[0].uri",
        "rtsp://",
    ),
    (
        "URI without host",
        "sources:\n  - {id: a, kind: rtsp, uri: 'rtsp:///x'}\n",
        "sources[0].uri",
        "no host",
    ),
    (
        "bad port",
        "sources:\n  - {id: a, kind: rtsp, uri: 'rtsp://cam:99999/x'}\n",
        "sources[0].uri",
        "port",
    ),
    (
        "negative fps",
        "sources:\n  - {id: a, kind: synthetic, fps: -5}\n",
        "sources[0].fps",
        "greater than or equal to",
    ),
    (
        "fps below one frame a day",
        "sources:\n  - {id: a, kind: synthetic, fps: 1.0e-300}\n",
        "sources[0].fps",
        "one a day",
    ),
    (
        "rate below one frame a day",
        "sources:\n  - {id: a, kind: synthetic, rate: 1.0e-300}\n",
        "sources[0].rate",
        "one a day",
    ),
    (
        "NaN gauge scale",
        GAUGE.format(scale="min_value: .nan, max_value: 10"),
        "pipelines[0].gauges[0].min_value",
        "finite number",
    ),
    (
        "infinite gauge scale",
        GAUGE.format(scale="min_value: 0, max_value: .inf"),
        "pipelines[0].gauges[0].max_value",
        "finite number",
    ),
    (
        "gauge scale past 1e12",
        GAUGE.format(scale="min_value: -1.0e+308, max_value: 1.0e+308"),
        "pipelines[0].gauges[0].min_value",
        "greater than or equal to -1000000000000",
    ),
    (
        "gauge scale without a span",
        GAUGE.format(scale="min_value: 5, max_value: 5.000000000000001"),
        "pipelines[0].gauges[0]",
        "must differ by more than rounding",
    ),
    (
        "NaN anywhere",
        "sources:\n  - {id: a, kind: synthetic, stall_timeout_s: .nan}\n",
        "sources[0].stall_timeout_s",
        "finite number",
    ),
    (
        "max below initial",
        "sources:\n  - id: a\n    kind: synthetic\n    reconnect: {initial_s: 5, max_s: 1}\n",
        "sources[0].reconnect",
        "max_s >= initial_s",
    ),
    (
        "negative backoff",
        "sources:\n  - id: a\n    kind: synthetic\n    reconnect: {max_s: -1}\n",
        "sources[0].reconnect.max_s",
        "greater than 0",
    ),
    (
        "duplicate source ids",
        "sources:\n  - {id: a, kind: synthetic}\n  - {id: a, kind: synthetic}\n",
        "sources[1].id",
        "give every entry its own id",
    ),
    ("unknown source kind", "sources:\n  - {id: a, kind: webcam}\n", "sources[0]", "kind"),
    ("missing source kind", "sources:\n  - {id: a}\n", "sources[0]", "kind"),
    (
        "pipeline -> missing source",
        "sources:\n  - {id: a, kind: synthetic}\n"
        "pipelines:\n  - {id: p, kind: motion, source: cam9}\n",
        "pipelines[0].source",
        "use one of the source ids: a",
    ),
    (
        "duplicate pipeline ids",
        "sources:\n  - {id: a, kind: synthetic}\npipelines:\n"
        "  - {id: p, kind: motion, source: a}\n  - {id: p, kind: motion, source: a}\n",
        "pipelines[1].id",
        "duplicate id 'p'",
    ),
    (
        "id with a slash",
        "sources:\n  - {id: 'cam/0', kind: synthetic}\n",
        "sources[0].id",
        "letters, digits",
    ),
    (
        "v4l2 not a device",
        "sources:\n  - {id: a, kind: v4l2, uri: /tmp/video0}\n",
        "sources[0].uri",
        "/dev/videoN",
    ),
    (
        "gstreamer without appsink",
        "sources:\n  - {id: a, kind: gstreamer, uri: 'videotestsrc ! fakesink'}\n",
        "sources[0].uri",
        "appsink",
    ),
    (
        "two password sources",
        "sources:\n  - id: a\n    kind: rtsp\n    uri: rtsp://cam/x\n"
        "    password: x\n    password_env: CAM_PW\n",
        "sources[0]",
        "keep exactly one",
    ),
    (
        "bad log level",
        "sources:\n  - {id: a, kind: synthetic}\nlogging: {level: LOUD}\n",
        "logging.level",
        "INFO",
    ),
    (
        "jsonl without path",
        "sources:\n  - {id: a, kind: synthetic}\nsinks:\n  jsonl: {}\n",
        "sinks.jsonl.path",
        "Field required",
    ),
    (
        "bad fsync policy",
        "sources:\n  - {id: a, kind: synthetic}\nsinks:\n  jsonl: {path: x, fsync: sometimes}\n",
        "sinks.jsonl.fsync",
        "'always'",
    ),
    (
        "batch with one source",
        "sources:\n  - {id: a, kind: synthetic}\n"
        "pipelines:\n  - {id: p, kind: motion, source: [a], batch: {max: 4}}\n",
        "pipelines[0].batch",
        "list the other cameras in `source` (source: [a, ...]) or remove `batch`",
    ),
    (
        "batch max of none",
        "sources:\n  - {id: a, kind: synthetic}\n  - {id: b, kind: synthetic}\n"
        "pipelines:\n  - {id: p, kind: motion, source: [a, b], batch: {max: 0}}\n",
        "pipelines[0].batch.max",
        "greater than or equal to 1",
    ),
    (
        "negative batch wait",
        "sources:\n  - {id: a, kind: synthetic}\n  - {id: b, kind: synthetic}\n"
        "pipelines:\n  - {id: p, kind: motion, source: [a, b], batch: {wait_ms: -1}}\n",
        "pipelines[0].batch.wait_ms",
        "greater than or equal to 0",
    ),
    (
        "pipeline kind not built",
        "sources:\n  - {id: a, kind: synthetic}\npipelines:\n  - {id: p, kind: yolo, source: a}\n",
        "pipelines[0]",
        "'motion'",
    ),
]


@pytest.mark.parametrize("name,text,path,words", BAD, ids=[b[0] for b in BAD])
def test_malformed_config_is_rejected_with_path_and_fix(name, text, path, words):
    with pytest.raises(ConfigError) as info:
        parse_config(text, "edged.yaml")
    message = str(info.value)
    lines = [row for row in message.splitlines()[1:] if f": {path}:" in row]
    assert lines, f"no problem reported at {path}:\n{message}"
    assert any(words in row for row in lines), message
    assert all(row.strip().startswith("edged.yaml:") for row in message.splitlines()[1:])


def test_several_errors_are_reported_at_once():
    text = _with(
        """
        sources:
          - {id: a, kind: synthetic, fps: 0}
          - {id: b, kind: rtsp, uri: ftp://x}
        pipelines:
          - {id: p, kind: motion, source: nowhere}
        """
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text, "x.yaml")
    paths = [issue.path for issue in info.value.issues]
    assert paths == ["sources[0].fps", "sources[1].uri", "pipelines[0].source"]
    assert info.value.lines == [2, 3, 5]


def test_line_numbers_point_at_the_field():
    text = "sources:\n  - id: a\n    kind: synthetic\n\n    width: -1\n"
    with pytest.raises(ConfigError) as info:
        parse_config(text, "cam.yaml")
    assert "cam.yaml:5: sources[0].width" in str(info.value)
    assert "(got -1)" in str(info.value)


def test_duplicate_yaml_keys_are_an_error():
    text = "sources:\n  - id: a\n    kind: synthetic\n    id: b\n"
    with pytest.raises(ConfigError) as info:
        parse_config(text, "dup.yaml")
    assert "dup.yaml:4" in str(info.value) and "duplicate key 'id'" in str(info.value)


def test_invalid_yaml_syntax_names_the_line():
    with pytest.raises(ConfigError) as info:
        parse_config("sources:\n  - id: [a\n", "s.yaml")
    assert "not valid YAML" in str(info.value) and "s.yaml:" in str(info.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    assert "nope.yaml" in str(info.value) and "cannot read the file" in str(info.value)


def test_reversed_gauge_scale_is_accepted():
    # min_value is the value at the scale's start: a vacuum dial may run 0 -> -1 bar
    config = parse_config(GAUGE.format(scale="min_value: 0, max_value: -1"))
    assert config.pipelines[0].gauges[0].max_value == -1


def test_one_frame_a_day_is_accepted():
    text = "sources:\n  - {id: a, kind: synthetic, rate: 1.1575e-5, fps: 1.1575e-5}\n"
    assert parse_config(text).sources[0].rate == 1.1575e-5


def test_good_config_loads_with_defaults():
    config = parse_config(GOOD)
    assert config.device_id == "line3"
    assert config.sources[1].reconnect.max_s == 30
    assert config.sources[0].stall_timeout_s == 10
    assert config.pipelines[0].source_ids == ("cam0", "cam1")
    assert config.sinks.jsonl.fsync == "interval"


def test_batch_is_off_unless_asked_and_has_defaults():
    config = parse_config(GOOD)
    assert config.pipelines[0].batch is None
    config = parse_config(
        GOOD.replace("source: [cam0, cam1]", "source: [cam0, cam1]\n    batch: {}")
    )
    assert (config.pipelines[0].batch.max, config.pipelines[0].batch.wait_ms) == (4, 10.0)


def test_device_id_defaults_to_a_topic_safe_hostname():
    config = parse_config("sources:\n  - {id: a, kind: synthetic}\n")
    assert config.device_id and "/" not in config.device_id and "." not in config.device_id


def test_v4l2_index_strings_become_ints():
    config = parse_config("sources:\n  - {id: a, kind: v4l2, uri: '2'}\n")
    assert config.sources[0].uri == 2


def test_secret_from_file_and_env(tmp_path, monkeypatch):
    secret = tmp_path / "pw"
    secret.write_text("from-file\n")
    text = f"sources:\n  - {{id: a, kind: rtsp, uri: rtsp://h/x, password_file: {secret}}}\n"
    assert parse_config(text).sources[0].resolved_password() == "from-file"
    monkeypatch.setenv("CAM_PW", "from-env")
    text = "sources:\n  - {id: a, kind: rtsp, uri: rtsp://h/x, password_env: CAM_PW}\n"
    assert parse_config(text).sources[0].resolved_password() == "from-env"
    monkeypatch.delenv("CAM_PW")
    with pytest.raises(SecretError, match="CAM_PW.*is not set"):
        parse_config(text).sources[0].resolved_password()


def test_inline_password_is_hidden_in_repr():
    text = "sources:\n  - {id: a, kind: rtsp, uri: rtsp://h/x, password: hunter2}\n"
    config = parse_config(text)
    assert "hunter2" not in repr(config) and "hunter2" not in str(config.model_dump())


def test_json_schema_exports_with_descriptions():
    schema = Config.model_json_schema()
    text = json.dumps(schema)
    assert "sources" in schema["properties"]
    assert "Longest wait between attempts, seconds" in text
    assert schema.get("additionalProperties") is False


def test_examples_are_valid():
    from pathlib import Path

    examples = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.yaml"))
    assert examples
    for path in examples:
        load_config(path)


# -- files that are not a small UTF-8 YAML document ---------------------------------

MINIMAL = "sources:\n  - {id: a, kind: synthetic}\n"


@pytest.mark.parametrize(
    "data,line,words",
    [
        ((MINIMAL + "device_id: caf\xe9\n").encode("latin-1"), 3, "not UTF-8 text (byte 0xe9"),
        (MINIMAL.encode("utf-16"), 1, "UTF-16"),
    ],
    ids=["latin-1", "utf-16"],
)
def test_config_that_is_not_utf8_is_named_with_the_fix(tmp_path, data, line, words):
    path = tmp_path / "edged.yaml"
    path.write_bytes(data)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert f"{path}:{line}: " in message and words in message and "save it as UTF-8" in message


def test_utf8_with_a_byte_order_mark_is_fine(tmp_path):
    path = tmp_path / "edged.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + MINIMAL.encode())
    assert load_config(path).sources[0].id == "a"


@pytest.mark.timeout(10)
@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_config_path_that_is_not_a_regular_file_is_refused(tmp_path, kind):
    path = {"fifo": tmp_path / "edged.yaml", "device": "/dev/zero", "directory": tmp_path}[kind]
    if kind == "fifo":
        os.mkfifo(path)  # no writer: reading it would wait for ever
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"{path}: (top level): cannot use the file" in str(info.value)
    assert "not a regular file" in str(info.value)


def test_config_file_over_the_size_limit_is_refused(tmp_path):
    path = tmp_path / "edged.yaml"
    path.write_text(MINIMAL + "#" * MAX_CONFIG_BYTES)
    with pytest.raises(ConfigError, match=f"larger than {MAX_CONFIG_BYTES} bytes"):
        load_config(path)


def test_complex_yaml_key_is_a_config_error():
    with pytest.raises(ConfigError) as info:
        parse_config(MINIMAL + "? [a, b]\n: 1\n", "k.yaml")
    assert "k.yaml:3: " in str(info.value) and "a key must be a plain name" in str(info.value)


def test_deep_nesting_is_a_config_error_not_a_recursion_error():
    with pytest.raises(ConfigError, match=f"nested more than {MAX_YAML_DEPTH} levels"):
        parse_config("sources: " + "[" * 20_000, "deep.yaml")


def alias_bomb(levels: int) -> str:
    """``levels`` anchors, each a list of ten aliases to the one before: 10**levels values."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.timeout(20)
def test_alias_fan_out_is_refused_before_validation():
    text = MINIMAL + alias_bomb(6) + "device_id: *a5\n"
    with pytest.raises(ConfigError) as info:
        parse_config(text, "bomb.yaml")
    message = str(info.value)
    assert f"expands to more than {MAX_YAML_VALUES} values" in message, message
    assert len(message) < 500


def test_aliases_within_the_bound_still_work():
    text = (
        MINIMAL.replace("id: a", "id: &cam a")
        + "pipelines:\n  - {id: p, kind: motion, source: *cam}\n"
    )
    assert parse_config(text).pipelines[0].source_ids == ("a",)


@pytest.mark.timeout(10)
def test_error_messages_never_spell_out_a_huge_value():
    huge: list = [0] * 10
    for _ in range(7):
        huge = [huge] * 10  # 10**8 values that share their lists, as YAML aliases do
    error = ConfigError("x.yaml", [ConfigIssue("device_id", "bad", huge)], [1])
    assert len(str(error)) < 200 and "(got [[[" in str(error)


def test_secret_file_that_is_not_utf8_is_a_secret_error(tmp_path):
    secret = tmp_path / "pw"
    secret.write_bytes(b"caf\xe9\n")
    text = f"sources:\n  - {{id: a, kind: rtsp, uri: rtsp://h/x, password_file: {secret}}}\n"
    with pytest.raises(SecretError, match=r"password_file: cannot use .*not UTF-8.*save it as"):
        parse_config(text).sources[0].resolved_password()


@pytest.mark.timeout(10)
def test_secret_file_that_is_a_fifo_is_a_secret_error(tmp_path):
    secret = tmp_path / "pw"
    os.mkfifo(secret)
    text = f"sources:\n  - {{id: a, kind: rtsp, uri: rtsp://h/x, password_file: {secret}}}\n"
    with pytest.raises(SecretError, match="FIFO"):
        parse_config(text).sources[0].resolved_password()


@pytest.mark.parametrize(
    "written, read", [("off", "off"), ("on", "on"), ("'off'", "off"), ("auto", "auto")]
)
def test_a_hand_written_on_or_off_is_the_word_not_a_boolean(written, read):
    # YAML 1.1 reads a bare on/off as true/false; the field takes the words
    text = textwrap.dedent(
        f"""
        sources: [{{id: cam0, kind: synthetic}}]
        pipelines:
          - id: dials
            kind: gauge
            source: cam0
            backend: triton
            triton: {{url: 'triton.local:8000', protocol: http, binary: {written}}}
            gauges: [{{id: g, min_value: 0, max_value: 10}}]
        """
    )
    assert parse_config(text).pipelines[0].triton.binary == read


@pytest.mark.parametrize("written", ["5", "'5'"])
def test_mqtt_protocol_5_written_bare_is_the_version(written):
    # YAML reads a bare 5 as a number; the field takes the version's name
    text = f"sources: [{{id: cam0, kind: synthetic}}]\nsinks: {{mqtt: {{protocol: {written}}}}}\n"
    assert parse_config(text).sinks.mqtt.protocol == "5"


def test_a_secret_of_the_wrong_type_is_not_echoed():
    # a camera's PIN written as a number is refused, and the error must not show it
    text = (
        "sources:\n"
        "  - {id: door, kind: rtsp, uri: 'rtsp://10.0.0.7/s1', username: admin, password: 834712}\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert "sources[0].password" in str(caught.value)
    assert "834712" not in str(caught.value)
