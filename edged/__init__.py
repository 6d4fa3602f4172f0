"""edged: an edge-AI appliance daemon for NVIDIA Jetson.

Frames flow one way: source -> latest-frame slot -> pipeline -> result bus -> sinks.
"""

__version__ = "0.1.0"
