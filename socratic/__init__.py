"""socratic: typed prompt graphs composing CLIP, captioners and LLMs (Socratic Models).

Heavy libraries (torch, transformers, open_clip, openai) are imported only when a model loads.
"""

__version__ = "0.1.0"
