"""Vision model backends: CLIP scorers and captioners (heavy libraries load lazily).

- :mod:`socratic.vision.clip_base` -- :class:`~socratic.vision.clip_base.ClipModel`, the scorer
  interface (embeddings, cosine, zero-shot, ranking, text-embedding cache);
- :mod:`socratic.vision.clip_open` -- backend ``open_clip``;
- :mod:`socratic.vision.clip_hf` -- backend ``hf_clip`` (CLIP, SigLIP via transformers);
- :mod:`socratic.vision.index` -- :class:`~socratic.vision.index.ImageIndex` for retrieval;
- :mod:`socratic.vision.base` / :mod:`socratic.vision.captioner` -- captioners (``hf_captioner``).

Importing any of these imports no torch, transformers or open_clip: weights load on first use.
"""
