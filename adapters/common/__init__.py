"""What the lecture's systems (FROMAGe, Flamingo, PGN, MAE) share: peft-style saving of trainable
weights only (:mod:`.saved`), image sources with known labels (:mod:`.images`), and for FROMAGe
and Flamingo the frozen encoder + LM base class (:mod:`.frozen_vision_lm`) and its save / load
(:mod:`.vision_lm_io`).

Importing this package is cheap (no torch).

Example:
    >>> from socratic.adapters.common.images import ImageSource
    >>> ImageSource().label
    'color_shape'
"""
