"""Analog gauge reading: synthetic renderer, keypoint model, training, reading, pipeline."""
