"""Bridges from a vision encoder into an LM: ClipCap, Q-Former (BLIP-2), Frozen."""

from .base import Bridge, bridge_class, bridge_names, build_bridge, register_bridge

__all__ = ["Bridge", "bridge_class", "bridge_names", "build_bridge", "register_bridge"]
