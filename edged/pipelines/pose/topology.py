"""Keypoint topologies: which parts a pose model predicts and which pairs its PAF links join.

trt_pose describes a model's output by a COCO-style category ("task JSON"): the keypoint names
(one confidence-map channel each, in order) and a 1-based skeleton (one PAF channel pair per
link, in order). The parser consumes the same information as an int32 ``[K, 4]`` array whose row
``k`` is ``[2k, 2k + 1, a, b]``: the PAF row (y) channel, the PAF column (x) channel and the two
0-based part indices. :class:`Topology` holds both views, so a hand-pose or custom keypoint
model works by loading its task JSON instead of the human-pose default.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Mapping, Sequence, Tuple, Union

import numpy as np

__all__ = ["HUMAN_POSE_KEYPOINTS", "HUMAN_POSE_SKELETON", "Topology", "TopologyError"]

HUMAN_POSE_KEYPOINTS: Tuple[str, ...] = (
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
)
"""trt_pose's 18 human-pose parts (COCO's 17 plus neck), in confidence-map channel order."""

HUMAN_POSE_SKELETON: Tuple[Tuple[int, int], ...] = (
    (16, 14),
    (14, 12),
    (17, 15),
    (15, 13),
    (12, 13),
    (6, 8),
    (7, 9),
    (8, 10),
    (9, 11),
    (2, 3),
    (1, 2),
    (1, 3),
    (2, 4),
    (3, 5),
    (4, 6),
    (5, 7),
    (18, 1),
    (18, 6),
    (18, 7),
    (18, 12),
    (18, 13),
)
"""trt_pose's ``human_pose.json`` skeleton, 1-based as in the file, in PAF channel-pair order."""

JsonSource = Union[str, "os.PathLike[str]", Mapping[str, Any]]


class TopologyError(ValueError):
    """A task JSON that cannot describe a keypoint model (names the field and the bad value)."""


class Topology:
    """Part names and PAF links of a keypoint model.

    ``skeleton`` holds 0-based part index pairs ``(a, b)``; link ``k`` reads PAF channels
    ``2k`` (row / y component) and ``2k + 1`` (column / x component) and points from ``a`` to
    ``b``. Instances are immutable and compare by value.
    """

    __slots__ = ("_keypoints", "_name", "_skeleton", "_supercategory")

    def __init__(
        self,
        keypoints: Sequence[str],
        skeleton: Sequence[Sequence[int]],
        name: str = "",
        supercategory: str = "",
    ) -> None:
        """Check and store a topology given 0-based ``skeleton`` pairs.

        Raises :class:`TopologyError` for empty or duplicate part names, links that are not
        pairs, indices out of range, self-links and links listed twice (in either direction),
        because each would make the parser read the wrong channels or join parts twice.
        """
        self._keypoints = _checked_keypoints(keypoints)
        self._skeleton = _checked_skeleton(skeleton, len(self._keypoints), base=0)
        self._name = str(name)
        self._supercategory = str(supercategory)

    @classmethod
    def human_pose(cls) -> Topology:
        """trt_pose's 18-part, 21-link human pose (``human_pose.json``)."""
        return cls(
            HUMAN_POSE_KEYPOINTS,
            [(a - 1, b - 1) for a, b in HUMAN_POSE_SKELETON],
            name="person",
            supercategory="person",
        )

    @classmethod
    def from_json(cls, source: JsonSource) -> Topology:
        """Build from a trt_pose task JSON: a path to the file, or the already-parsed dict.

        The skeleton in the JSON is 1-based (COCO convention) and is converted to 0-based.
        """
        if isinstance(source, Mapping):
            data: Any = source
            where = "task JSON"
        else:
            where = os.fspath(source)
            try:
                with open(where, encoding="utf-8") as f:
                    data = json.load(f)
            except json.JSONDecodeError as exc:
                raise TopologyError("%s: not valid JSON: %s" % (where, exc)) from None
        if not isinstance(data, Mapping):
            raise TopologyError("%s: expected a JSON object, got %s" % (where, type(data).__name__))
        for key in ("keypoints", "skeleton"):
            if key not in data:
                raise TopologyError("%s: missing required field %r" % (where, key))
        try:
            keypoints = _checked_keypoints(data["keypoints"])
            skeleton = _checked_skeleton(data["skeleton"], len(keypoints), base=1)
        except TopologyError as exc:
            raise TopologyError("%s: %s" % (where, exc)) from None
        return cls(
            keypoints,
            skeleton,
            name=str(data.get("name", "")),
            supercategory=str(data.get("supercategory", "")),
        )

    @property
    def keypoints(self) -> Tuple[str, ...]:
        """Part names in confidence-map channel order."""
        return self._keypoints

    @property
    def skeleton(self) -> Tuple[Tuple[int, int], ...]:
        """0-based ``(a, b)`` part index pairs, one per link, in PAF channel-pair order."""
        return self._skeleton

    @property
    def links(self) -> Tuple[Tuple[str, str], ...]:
        """The skeleton as ``(name_a, name_b)`` pairs, e.g. for drawing or logging."""
        return tuple((self._keypoints[a], self._keypoints[b]) for a, b in self._skeleton)

    @property
    def name(self) -> str:
        """Category name from the task JSON (``"person"`` for the human pose)."""
        return self._name

    @property
    def supercategory(self) -> str:
        """Supercategory from the task JSON."""
        return self._supercategory

    @property
    def num_parts(self) -> int:
        """Number of confidence-map channels the model must output."""
        return len(self._keypoints)

    @property
    def num_links(self) -> int:
        """Number of links; the model must output twice as many PAF channels."""
        return len(self._skeleton)

    def to_array(self) -> np.ndarray:
        """trt_pose's int32 ``[K, 4]`` topology: rows ``[2k, 2k + 1, a, b]``."""
        k = len(self._skeleton)
        out = np.empty((k, 4), dtype=np.int32)
        out[:, 0] = np.arange(0, 2 * k, 2)
        out[:, 1] = out[:, 0] + 1
        out[:, 2:] = np.asarray(self._skeleton, dtype=np.int32).reshape(k, 2)
        return out

    def to_json(self) -> Dict[str, Any]:
        """The task-JSON dict (1-based skeleton) that :meth:`from_json` reads back."""
        return {
            "supercategory": self._supercategory,
            "id": 1,
            "name": self._name,
            "keypoints": list(self._keypoints),
            "skeleton": [[a + 1, b + 1] for a, b in self._skeleton],
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Topology):
            return NotImplemented
        return self._keypoints == other._keypoints and self._skeleton == other._skeleton

    def __hash__(self) -> int:
        return hash((self._keypoints, self._skeleton))

    def __repr__(self) -> str:
        return "Topology(name=%r, parts=%d, links=%d)" % (
            self._name,
            len(self._keypoints),
            len(self._skeleton),
        )


def _checked_keypoints(keypoints: Any) -> Tuple[str, ...]:
    """Part names: a non-empty list of distinct non-empty strings."""
    if isinstance(keypoints, (str, bytes)) or not isinstance(keypoints, Sequence):
        raise TopologyError("keypoints: expected a list of names, got %r" % (keypoints,))
    if not keypoints:
        raise TopologyError("keypoints: expected at least one name, got []")
    names: List[str] = []
    for i, name in enumerate(keypoints):
        if not isinstance(name, str) or not name:
            raise TopologyError("keypoints[%d]: expected a non-empty string, got %r" % (i, name))
        if name in names:
            raise TopologyError(
                "keypoints[%d]: duplicate name %r (also keypoints[%d])"
                % (i, name, names.index(name))
            )
        names.append(name)
    return tuple(names)


def _checked_skeleton(skeleton: Any, num_parts: int, base: int) -> Tuple[Tuple[int, int], ...]:
    """Links as 0-based pairs, given ``base``-based input indices into ``num_parts`` parts."""
    if isinstance(skeleton, (str, bytes)) or not isinstance(skeleton, Sequence):
        raise TopologyError("skeleton: expected a list of [a, b] pairs, got %r" % (skeleton,))
    lo, hi = base, num_parts - 1 + base
    seen: Dict[Tuple[int, int], int] = {}
    pairs: List[Tuple[int, int]] = []
    for k, link in enumerate(skeleton):
        if isinstance(link, (str, bytes)) or not isinstance(link, Sequence) or len(link) != 2:
            raise TopologyError("skeleton[%d]: expected a pair [a, b], got %r" % (k, link))
        ends = []
        for end in link:
            if isinstance(end, bool) or not isinstance(end, (int, np.integer)):
                raise TopologyError("skeleton[%d]: expected integer indices, got %r" % (k, link))
            if not lo <= end <= hi:
                raise TopologyError(
                    "skeleton[%d]: index %d out of range %d..%d (%d keypoints, %d-based)"
                    % (k, end, lo, hi, num_parts, base)
                )
            ends.append(int(end) - base)
        a, b = ends
        if a == b:
            raise TopologyError("skeleton[%d]: links part %r to itself" % (k, link[0]))
        key = (min(a, b), max(a, b))
        if key in seen:
            raise TopologyError(
                "skeleton[%d]: duplicate link %r (also skeleton[%d])" % (k, list(link), seen[key])
            )
        seen[key] = k
        pairs.append((a, b))
    return tuple(pairs)
