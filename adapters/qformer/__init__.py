"""BLIP-2's Q-Former, stage 1 (Li et al. 2023; reference: LAVIS ``blip2_qformer.py``).

``task: qformer_stage1`` trains the Q-Former on image-text pairs against a frozen image
encoder with the three stage-1 objectives, without any LLM: ITC (contrastive, max over queries,
label smoothing 0.1, learnable clamped temperature), ITM (matching, hard negatives drawn from
the similarities in both directions, 3B pairs) and ITG (the Q-Former's causal text decoder
conditioned on the queries). Stage 2 is ``task: bridge`` with ``bridge: {type: qformer,
stage1_checkpoint: OUTPUT_DIR/qformer}``.

- :mod:`.losses`: the objectives as functions of tensors;
- :mod:`.model`: ``QFormerStage1`` (transformers' ``Blip2QFormerModel`` + heads);
- :mod:`.bert`: initialisation from a local BERT folder;
- :mod:`.text`: BERT tokenizer with [DEC], and an offline WordPiece trainer;
- :mod:`.config` / :mod:`.train`: the task's config and run, ``save_stage1`` / ``load_stage1``.

Importing this package imports nothing heavy.
"""
