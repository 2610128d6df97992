"""What the lecture's systems (FROMAGe, Flamingo, PGN, MAE) share: peft-style saving of trainable
weights only (:mod:`.saved`) and image sources with known labels (:mod:`.images`).

Importing this package is cheap (no torch).

Example:
    >>> from socratic.adapters.common.images import ImageSource
    >>> ImageSource().label
    'color_shape'
"""
