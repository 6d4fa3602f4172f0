"""Analog gauge reading: synthetic renderer, keypoint model, training, reading, pipeline."""

from __future__ import annotations
