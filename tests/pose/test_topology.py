"""Keypoint topologies: trt_pose's human pose, custom task JSON, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pytest

from edged.pipelines.pose.topology import HUMAN_POSE_SKELETON, Topology, TopologyError

# trt_pose's human_pose.json, as published
HUMAN_POSE_JSON: Dict[str, Any] = {
    "supercategory": "person",
    "id": 1,
    "name": "person",
    "keypoints": [
        "nose",
        "left_eye",
        "right_eye",
        "left_ear",
        "right_ear",
        "left_shoulder",
        "right_shoulder",
        "left_elbow",
        "right_elbow",
        "left_wrist",
        "right_wrist",
        "left_hip",
        "right_hip",
        "left_knee",
        "right_knee",
        "left_ankle",
        "right_ankle",
        "neck",
    ],
    "skeleton": [list(pair) for pair in HUMAN_POSE_SKELETON],
}

# the topology array stored in every trt_pose reference vector
TRT_POSE_TOPOLOGY = [
    [0, 1, 15, 13],
    [2, 3, 13, 11],
    [4, 5, 16, 14],
    [6, 7, 14, 12],
    [8, 9, 11, 12],
    [10, 11, 5, 7],
    [12, 13, 6, 8],
    [14, 15, 7, 9],
    [16, 17, 8, 10],
    [18, 19, 1, 2],
    [20, 21, 0, 1],
    [22, 23, 0, 2],
    [24, 25, 1, 3],
    [26, 27, 2, 4],
    [28, 29, 3, 5],
    [30, 31, 4, 6],
    [32, 33, 17, 0],
    [34, 35, 17, 5],
    [36, 37, 17, 6],
    [38, 39, 17, 11],
    [40, 41, 17, 12],
]


def test_human_pose_array_is_trt_pose_topology() -> None:
    array = Topology.human_pose().to_array()
    assert array.dtype == np.int32 and array.shape == (21, 4)
    assert array.tolist() == TRT_POSE_TOPOLOGY


def test_human_pose_names_and_links() -> None:
    topology = Topology.human_pose()
    assert topology.num_parts == 18 and topology.num_links == 21
    assert topology.keypoints[0] == "nose" and topology.keypoints[-1] == "neck"
    assert topology.skeleton[0] == (15, 13)
    assert topology.links[0] == ("left_ankle", "left_knee")
    assert topology.links[-1] == ("neck", "right_hip")
    assert topology.name == "person"


def test_from_json_file_equals_the_builtin(tmp_path: Path) -> None:
    path = tmp_path / "human_pose.json"
    path.write_text(json.dumps(HUMAN_POSE_JSON))
    assert Topology.from_json(path) == Topology.human_pose()
    assert Topology.from_json(str(path)) == Topology.human_pose()
    assert Topology.from_json(Topology.human_pose().to_json()) == Topology.human_pose()


def test_hand_pose_json() -> None:
    fingers = ("thumb", "index", "middle", "ring", "little")
    hand = {
        "supercategory": "hand",
        "id": 1,
        "name": "hand",
        "keypoints": ["palm"] + ["%s_%d" % (f, i) for f in fingers for i in range(1, 5)],
        "skeleton": [
            [1, 2], [2, 3], [3, 4], [4, 5],
            [1, 6], [6, 7], [7, 8], [8, 9],
            [1, 10], [10, 11], [11, 12], [12, 13],
            [1, 14], [14, 15], [15, 16], [16, 17],
            [1, 18], [18, 19], [19, 20], [20, 21],
        ],
    }  # fmt: skip
    topology = Topology.from_json(hand)
    assert topology.num_parts == 21 and topology.num_links == 20
    assert topology.skeleton[:2] == ((0, 1), (1, 2))
    assert topology.links[4] == ("palm", "index_1")
    array = topology.to_array()
    assert array.shape == (20, 4)
    assert array[19].tolist() == [38, 39, 19, 20]
    assert (array[:, 1] == array[:, 0] + 1).all()


def test_keypoints_without_links_are_allowed() -> None:
    topology = Topology.from_json({"keypoints": ["center", "tip"], "skeleton": []})
    assert topology.to_array().shape == (0, 4)


@pytest.mark.parametrize(
    "change,message",
    [
        ({"skeleton": [[0, 1]]}, r"skeleton\[0\]: index 0 out of range 1\.\.18"),
        ({"skeleton": [[1, 19]]}, r"skeleton\[0\]: index 19 out of range"),
        (
            {"skeleton": [[1, 2], [2, 1]]},
            r"skeleton\[1\]: duplicate link \[2, 1\] \(also skeleton\[0\]\)",
        ),
        ({"skeleton": [[3, 3]]}, r"skeleton\[0\]: links part 3 to itself"),
        ({"skeleton": [[1, 2, 3]]}, r"skeleton\[0\]: expected a pair"),
        ({"skeleton": [[1, "2"]]}, r"skeleton\[0\]: expected integer indices"),
        ({"skeleton": [[1, True]]}, r"skeleton\[0\]: expected integer indices"),
        ({"skeleton": "1-2"}, r"skeleton: expected a list"),
        ({"keypoints": []}, r"keypoints: expected at least one name"),
        (
            {"keypoints": ["a", "b", "a"]},
            r"keypoints\[2\]: duplicate name 'a' \(also keypoints\[0\]\)",
        ),
        ({"keypoints": ["a", ""]}, r"keypoints\[1\]: expected a non-empty string"),
        ({"keypoints": "nose"}, r"keypoints: expected a list"),
    ],
)
def test_malformed_task_json(change: Dict[str, Any], message: str) -> None:
    data = dict(HUMAN_POSE_JSON, **change)
    with pytest.raises(TopologyError, match=message):
        Topology.from_json(data)


def test_missing_fields_and_bad_files(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match="missing required field 'skeleton'"):
        Topology.from_json({"keypoints": ["a"]})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(TopologyError, match="bad.json: not valid JSON"):
        Topology.from_json(bad)
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    with pytest.raises(TopologyError, match="list.json: expected a JSON object, got list"):
        Topology.from_json(listed)
    with pytest.raises(TopologyError, match=r"list.json: skeleton\[0\]"):
        listed.write_text(json.dumps({"keypoints": ["a", "b"], "skeleton": [[1, 3]]}))
        Topology.from_json(listed)


def test_topology_error_is_a_value_error() -> None:
    assert issubclass(TopologyError, ValueError)
    with pytest.raises(ValueError):
        Topology(["a", "b"], [(0, 2)])


def test_equality_and_hash() -> None:
    a, b = Topology.human_pose(), Topology.from_json(HUMAN_POSE_JSON)
    assert a == b and hash(a) == hash(b)
    assert a != Topology(["a", "b"], [(0, 1)])
    assert "parts=18" in repr(a)
