"""Round trip: render confidence maps and PAFs for known skeletons, parse, get them back.

The maps follow trt_pose's training targets: a Gaussian per keypoint (sigma = 0.025 x map size)
centred on the keypoint (pixel ``i`` covers ``[i, i + 1)``), and for each link a unit vector
from part a to part b on every pixel within a band around the segment.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pytest

from edged.pipelines.pose.parse import parse_objects
from edged.pipelines.pose.topology import Topology

Person = Dict[str, Tuple[float, float]]  # part name -> (y, x) in map pixels

# a standing person, (y, x) offsets from the hip centre in map pixels; 36 px tall, 14 px wide
TEMPLATE: Person = {
    "nose": (-15.0, 0.0),
    "left_eye": (-16.5, 1.6),
    "right_eye": (-16.5, -1.6),
    "left_ear": (-15.5, 3.5),
    "right_ear": (-15.5, -3.5),
    "neck": (-10.0, 0.0),
    "left_shoulder": (-9.0, 5.0),
    "right_shoulder": (-9.0, -5.0),
    "left_elbow": (-2.0, 6.5),
    "right_elbow": (-2.0, -6.5),
    "left_wrist": (4.0, 7.0),
    "right_wrist": (4.0, -7.0),
    "left_hip": (3.0, 3.0),
    "right_hip": (3.0, -3.0),
    "left_knee": (11.0, 3.5),
    "right_knee": (11.0, -3.5),
    "left_ankle": (19.0, 3.5),
    "right_ankle": (19.0, -3.5),
}


def render(
    people: Sequence[Person], topology: Topology, size: int, paf_width: float = 1.0
) -> Tuple[np.ndarray, np.ndarray]:
    """``cmap [1, C, size, size]`` and ``paf [1, 2K, size, size]`` for ``people``."""
    sigma = 0.025 * size
    centres = np.arange(size) + 0.5
    yy, xx = np.meshgrid(centres, centres, indexing="ij")
    cmap = np.zeros((topology.num_parts, size, size), dtype=np.float32)
    paf = np.zeros((2 * topology.num_links, size, size), dtype=np.float32)
    for person in people:
        for c, name in enumerate(topology.keypoints):
            if name in person:
                y, x = person[name]
                blob = np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * sigma**2))
                np.maximum(cmap[c], blob, out=cmap[c])
        for k, (name_a, name_b) in enumerate(topology.links):
            if name_a in person and name_b in person:
                a, b = np.array(person[name_a]), np.array(person[name_b])
                u = (b - a) / np.linalg.norm(b - a)
                # distance of each pixel centre to the segment a-b
                t = np.clip(((yy - a[0]) * u[0] + (xx - a[1]) * u[1]) / np.linalg.norm(b - a), 0, 1)
                py, px = a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])
                near = np.hypot(yy - py, xx - px) <= paf_width
                paf[2 * k][near] = u[0]
                paf[2 * k + 1][near] = u[1]
    return cmap[None], paf[None]


def place(centre: Tuple[float, float], rng: np.random.Generator, drop: Sequence[str]) -> Person:
    """The template around ``centre`` with sub-pixel jitter, without the parts ``drop``."""
    person = {}
    for name, (dy, dx) in TEMPLATE.items():
        if name not in drop:
            jy, jx = rng.uniform(-0.4, 0.4, size=2)
            person[name] = (centre[0] + dy + jy, centre[1] + dx + jx)
    return person


def match(
    peaks: np.ndarray, part: int, peak: int, people: Sequence[Person], names: Sequence[str]
) -> Optional[Tuple[int, float]]:
    """Which person's keypoint a parsed peak is (index, distance in map pixels), if any."""
    y, x = peaks[part, peak]
    best = None
    for i, person in enumerate(people):
        if names[part] in person:
            ty, tx = person[names[part]]
            dist = float(np.hypot(y * SIZE - ty, x * SIZE - tx))
            if best is None or dist < best[1]:
                best = (i, dist)
    return best


SIZE = 56


def parsed_people(
    cmap: np.ndarray, paf: np.ndarray, topology: Topology, people: Sequence[Person]
) -> List[Dict[str, Tuple[int, float]]]:
    """Each parsed object as ``{part name: (matched person, distance)}``."""
    counts, objects, peaks = parse_objects(cmap, paf, topology)
    names = topology.keypoints
    result = []
    for obj in objects[0, : counts[0]]:
        parts = {}
        for c in np.flatnonzero(obj >= 0):
            hit = match(peaks[0], int(c), int(obj[c]), people, names)
            assert hit is not None, "a peak of %s that belongs to nobody" % names[c]
            parts[names[c]] = hit
        result.append(parts)
    return result


def test_people_round_trip() -> None:
    """Three people, some parts missing: every keypoint comes back within half a map pixel,
    grouped with its own person; a wrist whose elbow is missing becomes a one-part object."""
    rng = np.random.default_rng(7)
    topology = Topology.human_pose()
    people = [
        place((27.0, 10.0), rng, drop=()),
        place((27.3, 28.2), rng, drop=("left_wrist", "right_ankle", "left_ear")),
        place((26.6, 45.8), rng, drop=("nose", "left_eye", "right_eye", "left_elbow")),
    ]
    cmap, paf = render(people, topology, SIZE)
    objects = parsed_people(cmap, paf, topology, people)

    found = sum(len(obj) for obj in objects)
    assert found == sum(len(p) for p in people), "every visible keypoint is found once"
    for obj in objects:
        owners = {person for person, _ in obj.values()}
        assert len(owners) == 1, "an object mixes people: %r" % obj
        for name, (_, dist) in obj.items():
            assert dist < 0.5, "%s is %.2f px off" % (name, dist)
    by_size = sorted(objects, key=len, reverse=True)
    assert [len(o) for o in by_size] == [18, 15, 13, 1]
    assert [next(iter(o.values()))[0] for o in by_size] == [0, 1, 2, 2]
    assert set(by_size[-1]) == {"left_wrist"}


def test_empty_maps_give_no_objects() -> None:
    topology = Topology.human_pose()
    cmap, paf = render([], topology, SIZE)
    counts, objects, peaks = parse_objects(cmap, paf, topology)
    assert counts.tolist() == [0]
    assert objects.shape == (1, 100, 18) and (objects == -1).all()
    assert peaks.shape == (1, 18, 100, 2) and not peaks.any()


FINGERS = ("thumb", "index", "middle", "ring", "little")
HAND_JSON = {
    "supercategory": "hand",
    "id": 1,
    "name": "hand",
    "keypoints": ["palm"] + ["%s_%d" % (f, i) for f in FINGERS for i in (1, 2, 3, 4)],
    "skeleton": [
        pair
        for f in range(5)
        for pair in (
            [1, 2 + 4 * f],
            [2 + 4 * f, 3 + 4 * f],
            [3 + 4 * f, 4 + 4 * f],
            [4 + 4 * f, 5 + 4 * f],
        )
    ],
}


def test_custom_topology_round_trip() -> None:
    """A 21-keypoint hand from a task JSON parses with the same code."""
    topology = Topology.from_json(HAND_JSON)
    # off the pixel grid: a keypoint on a pixel corner is a 2 x 2 plateau, i.e. 4 peaks
    palm = (40.3, 27.8)
    hand: Person = {"palm": palm}
    for finger, angle in zip(FINGERS, np.linspace(-1.1, 1.1, 5)):
        for i in range(1, 5):
            r = 6.0 + 4.5 * i
            hand["%s_%d" % (finger, i)] = (palm[0] - r * np.cos(angle), palm[1] + r * np.sin(angle))
    cmap, paf = render([hand], topology, SIZE)
    objects = parsed_people(cmap, paf, topology, [hand])
    assert len(objects) == 1 and len(objects[0]) == 21
    assert max(dist for _, dist in objects[0].values()) < 0.5


@pytest.mark.parametrize("window", [3, 5, 7])
def test_round_trip_other_windows(window: int) -> None:
    """Without a neck, trt_pose's skeleton has no link from the shoulders to the hips, so that
    person comes back as an upper body (11 parts) and a lower body (6)."""
    rng = np.random.default_rng(window)
    topology = Topology.human_pose()
    people = [place((27.0, 14.0), rng, drop=()), place((28.0, 40.0), rng, drop=("neck",))]
    cmap, paf = render(people, topology, SIZE)
    counts, objects, _ = parse_objects(cmap, paf, topology, cmap_window=window)
    sizes = sorted((objects[0, : counts[0]] >= 0).sum(axis=1).tolist(), reverse=True)
    assert sizes == [18, 11, 6]
