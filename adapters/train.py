"""A small trainer on Hugging Face Accelerate's own machinery.

What Accelerate does, it does here: ``Accelerator(gradient_accumulation_steps=...)`` with
``accumulate()`` (no DDP sync on inner micro-steps), bf16 / fp16 autocast, ``clip_grad_norm_``,
``save_state`` / ``load_state`` (optimizer, scheduler, every rank's RNG states) and its trackers
(``log`` / ``end_training``: TensorBoard plus :class:`CSVTracker`). What it adds: AdamW without
weight decay on biases and norms, warmup with linear / cosine / constant decay
(``transformers.get_scheduler``), evaluation every N steps, a tqdm bar, checkpoints that keep only
the trainable weights (a save / load hook) and are atomic (written to ``.tmp-step-N``, then
renamed to ``checkpoints/step-N``; the last ``keep_last`` are kept), and exact resume: the data
order is a pure function of (seed, epoch, step), so restoring the step restores the data
position. Under ``torchrun`` it runs DDP; each rank reads its own slice of every global batch.

Example:
    >>> cfg = TrainConfig(output_dir="runs/x", grad_accum=4, save_every=100)  # doctest: +SKIP
    >>> Trainer(model, dataset, collate, cfg).fit()                           # doctest: +SKIP
    {'step': 1000, 'train_loss': 0.12, 'digest': '3f2a...', ...}

Stop the process at any time and run it again: it resumes from the last checkpoint.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate.tracking import GeneralTracker
from torch import nn

from socratic.errors import TrainingError

from .config import TrainConfig

__all__ = ["CSVTracker", "Trainer", "TrainingError", "make_accelerator", "param_digest"]

CKPT_DIR = "checkpoints"
WEIGHTS = "trainable.safetensors"
META = "trainer_state.json"


def param_digest(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 of the exact bytes of named tensors (to compare runs or ranks)."""
    import hashlib

    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


class CSVTracker(GeneralTracker):
    """An Accelerate tracker writing ``group/name`` values as rows of ``OUT/group_log.csv``
    (``train/loss`` -> column ``loss`` of ``train_log.csv``), the step first; appends on resume.

    Example:
        >>> import tempfile
        >>> t = CSVTracker(tempfile.mkdtemp())
        >>> t.log({"eval/acc": 0.5}, step=3)
        >>> (t.tracker / "eval_log.csv").read_text().split()
        ['step,acc', '3,0.5']
    """

    name = "csv"
    requires_logging_directory = False

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        super().__init__()
        self.out = Path(out_dir)

    @property
    def tracker(self) -> Path:
        return self.out

    def log(self, values: dict[str, Any], step: int | None = None, **kwargs: Any) -> None:
        rows: dict[str, dict[str, Any]] = {}
        for key, value in values.items():
            group, _, column = key.rpartition("/")
            rows.setdefault(group or "train", {})[column] = value
        for group, row in rows.items():
            path = self.out / f"{group}_log.csv"
            new = not path.exists()
            with open(path, "a", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=["step", *row])
                if new:
                    writer.writeheader()
                writer.writerow({"step": step, **row})


def make_accelerator(cfg: TrainConfig, strategy: Any = None) -> Any:
    """The ``Accelerator`` for one run of ``cfg``: precision, gradient accumulation, trackers
    (CSV always, TensorBoard when ``cfg.tensorboard`` and installed) logging into ``output_dir``.

    Accelerate keeps one global state per process and offers no public way to change its
    precision or device afterwards. In a single (non-distributed) process a run with another
    precision therefore resets that state with ``AcceleratorState._reset_state`` (the one private
    call here; Accelerate's own test harness uses it the same way), so several runs can follow
    each other in one Python session; in a distributed process that is a :class:`TrainingError`.
    """
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, is_initialized
    from accelerate.utils import ProjectConfiguration

    cpu = cfg.cpu or not torch.cuda.is_available()
    if cpu and cfg.mixed_precision == "fp16":
        raise TrainingError("train.mixed_precision: fp16 needs a GPU (use bf16 or no on CPU)")
    if is_initialized():
        state = AcceleratorState()
        if state.mixed_precision != cfg.mixed_precision or (state.device.type == "cpu") != cpu:
            if state.use_distributed:
                raise TrainingError(
                    f"train.mixed_precision / train.cpu ({cfg.mixed_precision}, cpu={cpu}) differ "
                    f"from what this distributed process started with ({state.mixed_precision}, "
                    f"{state.device.type})"
                )
            AcceleratorState._reset_state(reset_partial_state=True)
    out = str(cfg.output_dir)
    extra = strategy.accelerator_kwargs(cfg) if hasattr(strategy, "accelerator_kwargs") else {}
    return Accelerator(
        **extra,
        cpu=cpu,
        mixed_precision=cfg.mixed_precision,
        gradient_accumulation_steps=cfg.grad_accum,
        log_with=[CSVTracker(out), *(["tensorboard"] if cfg.tensorboard else [])],
        project_config=ProjectConfiguration(project_dir=out, logging_dir=out),
    )


class Trainer:
    """Train the parameters of ``model`` that require grad.

    ``model(**batch)`` returns a dict with ``"loss"`` (or a loss tensor); ``collate`` turns a
    list of dataset items into that batch. ``evaluate(model) -> dict`` (optional) is called
    every ``eval_every`` steps and at the end on the main process; ``save(model, step)``
    (optional) writes the final artefact. A model may define ``trainable_state_dict()`` (the
    weights a checkpoint keeps); otherwise those are its parameters that require grad. An
    ``accelerator`` passed in should come from :func:`make_accelerator` (one per Trainer).

    Example:
        >>> class Toy(nn.Module):
        ...     def __init__(self):
        ...         super().__init__(); self.w = nn.Linear(2, 1)
        ...     def forward(self, x, y):
        ...         return {"loss": ((self.w(x) - y) ** 2).mean()}
        >>> import tempfile
        >>> data = [{"x": torch.ones(2), "y": torch.ones(1)}] * 8
        >>> collate = lambda items: {k: torch.stack([i[k] for i in items]) for k in items[0]}
        >>> cfg = TrainConfig(output_dir=tempfile.mkdtemp(), max_steps=3, batch_size=4,
        ...                   progress_bar=False, tensorboard=False, cpu=True)
        >>> Trainer(Toy(), data, collate, cfg).fit()["step"]
        3
    """

    def __init__(
        self,
        model: nn.Module,
        train_dataset: Sequence[Any],
        collate: Callable[[list[Any]], dict[str, Any]],
        cfg: TrainConfig,
        *,
        evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
        save: Callable[[nn.Module, int], Any] | None = None,
        accelerator: Any = None,
        strategy: Any = None,
        eval_loop: Any = None,
    ) -> None:
        from transformers import get_scheduler

        self.cfg, self.collate, self.dataset = cfg, collate, train_dataset
        self.evaluate_fn, self.save_fn = evaluate, save
        # a sharding strategy (adapters.distributed) shards the model itself; Accelerate then
        # prepares only the optimizer and scheduler (it would wrap a sharded model in DDP)
        self.strategy = strategy if strategy is not None and strategy.shards_model else None
        self.eval_loop = eval_loop
        acc = self.accelerator = accelerator or make_accelerator(cfg)
        if acc.gradient_accumulation_steps != cfg.grad_accum:
            raise TrainingError(
                f"the accelerator accumulates {acc.gradient_accumulation_steps} micro-steps, "
                f"train.grad_accum is {cfg.grad_accum}: build it with make_accelerator(cfg)"
            )
        self.rank, self.world = acc.process_index, acc.num_processes
        self.out = Path(cfg.output_dir)
        self.global_batch = cfg.batch_size * self.world
        self.batches_per_epoch = len(train_dataset) // self.global_batch
        if self.batches_per_epoch == 0:
            raise TrainingError(
                f"the training set ({len(train_dataset)} examples) is smaller than one global "
                f"batch ({cfg.batch_size} x {self.world} processes)"
            )
        if self.strategy is not None and self.strategy.wraps_model:
            model = self.strategy.wrap(model, acc.device)
        elif self.strategy is not None:  # DeepSpeed: Accelerate builds the engine in prepare()
            model = self.strategy.prepare_model(model)
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        if not named:
            raise TrainingError("the model has no trainable parameters")
        self.params = [p for _, p in named]
        self.trainable_names = [n for n, _ in named]
        optimizer = torch.optim.AdamW(
            [
                {"params": [p for p in self.params if p.ndim >= 2], "weight_decay": cfg.weight_decay},
                {"params": [p for p in self.params if p.ndim < 2], "weight_decay": 0.0},
            ],
            lr=cfg.lr,
            betas=cfg.betas,
        )
        # A prepared scheduler steps once per process at each optimizer step (Accelerate's
        # convention): its lengths are counted the same way, so the schedule is per real step.
        scheduler = get_scheduler(
            {"constant": "constant_with_warmup"}.get(cfg.schedule, cfg.schedule),
            optimizer,
            num_warmup_steps=cfg.warmup_steps * self.world,
            num_training_steps=cfg.max_steps * self.world,
        )
        if self.strategy is not None and self.strategy.wraps_model:
            self.model = model
            self.optimizer, self.scheduler = acc.prepare(optimizer, scheduler)
        else:
            self.model, self.optimizer, self.scheduler = acc.prepare(model, optimizer, scheduler)
        acc.register_save_state_pre_hook(self._save_hook)
        acc.register_load_state_pre_hook(self._load_hook)
        self.step = 0
        self._evaluated: tuple[int, dict[str, float]] = (-1, {})
        self.history: list[dict[str, float]] = []
        self._perm_epoch, self._perm = -1, np.arange(0)

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    def unwrapped(self) -> nn.Module:
        return self.accelerator.unwrap_model(self.model)

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """Trained parameters (and, when the model says so, trained buffers) by name; whole
        tensors under a sharding strategy (then a collective: every rank calls it)."""
        model = self.unwrapped()
        if self.strategy is not None:
            return self.strategy.full_state(model, self.trainable_names)
        own = getattr(model, "trainable_state_dict", None)
        if callable(own):
            return dict(own())
        named = dict(model.named_parameters())
        return {n: named[n].detach() for n in self.trainable_names}

    # ------------------------------------------------------------ data

    def _batch_indices(self, micro: int) -> list[int]:
        """Dataset indices of this rank's part of global micro-batch number ``micro``."""
        epoch, b = divmod(micro, self.batches_per_epoch)
        if self._perm_epoch != epoch:  # one permutation per epoch, a pure function of (seed, epoch)
            self._perm = np.random.default_rng([self.cfg.seed, epoch]).permutation(len(self.dataset))
            self._perm_epoch = epoch
        start = b * self.global_batch + self.rank * self.cfg.batch_size
        return self._perm[start : start + self.cfg.batch_size].tolist()

    def _batches(self, first_micro: int) -> Iterator[dict[str, Any]]:
        micros = (self._batch_indices(m) for m in range(first_micro, 2**62))
        if self.cfg.num_workers:
            from torch.utils.data import DataLoader

            yield from DataLoader(self.dataset, batch_sampler=micros, collate_fn=self.collate,  # type: ignore[arg-type]
                                  num_workers=self.cfg.num_workers)
            return
        for idx in micros:
            yield self.collate([self.dataset[i] for i in idx])

    # ------------------------------------------------------------ checkpoints

    def checkpoints(self) -> list[Path]:
        """Complete checkpoints, oldest first (half-written ``.tmp-*`` folders are not)."""
        root = self.out / CKPT_DIR
        return sorted(p for p in root.glob("step-*") if p.is_dir()) if root.is_dir() else []

    def save_checkpoint(self) -> Path:
        """``accelerator.save_state`` into ``checkpoints/.tmp-step-N``, renamed to ``step-N``
        once complete (a killed save leaves no ``step-*`` folder); keep the last ``keep_last``."""
        acc, root = self.accelerator, self.out / CKPT_DIR
        final, tmp = root / f"step-{self.step:07d}", root / f".tmp-step-{self.step:07d}"
        if self.is_main:
            shutil.rmtree(tmp, ignore_errors=True)
        acc.wait_for_everyone()
        if self.strategy is not None and self.strategy.wraps_model:
            from .distributed.checkpoint import save_sharded

            save_sharded(self, tmp)
        else:
            acc.save_state(str(tmp))
        acc.wait_for_everyone()
        if self.is_main:
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
            for old in self.checkpoints()[: -self.cfg.keep_last]:
                shutil.rmtree(old, ignore_errors=True)
        acc.wait_for_everyone()
        return final

    def _save_hook(self, models: list[nn.Module], weights: list[dict[str, Any]], out_dir: str) -> None:
        """save_state writes only the trainable weights of our model (not a frozen 7B LM)."""
        from accelerate.utils import save

        if self.strategy is not None:  # DeepSpeed: the engine writes its own sharded checkpoint
            self._write_meta(out_dir)
            return
        weights.pop(self._index_in(models))
        state = {k: v.detach().contiguous().cpu() for k, v in self.trainable_state().items()}
        save(state, Path(out_dir) / WEIGHTS, safe_serialization=True)
        self._write_meta(out_dir)

    def _write_meta(self, out_dir: str) -> None:
        if self.is_main:
            meta = {"step": self.step, "world_size": self.world, "seed": self.cfg.seed}
            if self.strategy is not None:
                meta["strategy"] = self.strategy.name
            (Path(out_dir) / META).write_text(json.dumps(meta))

    def _load_hook(self, models: list[nn.Module], in_dir: str) -> None:
        """load_state reads our trainable weights and step; Accelerate loads the rest."""
        from safetensors.torch import load_file

        path = Path(in_dir)
        if self.strategy is not None:  # DeepSpeed: the engine reads its checkpoint
            meta = json.loads((path / META).read_text())
            if meta.get("world_size") != self.world or meta.get("strategy") != self.strategy.name:
                raise TrainingError(f"checkpoint {path} was written by {meta.get('world_size')} processes "
                                    f"with strategy {meta.get('strategy', 'ddp')}; this run has {self.world} "
                                    f"with {self.strategy.name}: resume with the same launch")
            self.step = int(meta["step"])
            return
        if not (path / "optimizer.bin").exists():
            raise TrainingError(f"checkpoint {path} has no optimizer.bin (an older format): delete it "
                                "or set train.resume: false")
        meta = json.loads((path / META).read_text())
        if meta.get("world_size", 1) != self.world:
            raise TrainingError(
                f"checkpoint {path} was written by {meta.get('world_size')} processes, this run "
                f"has {self.world}: the data order would differ"
            )
        state = load_file(str(path / WEIGHTS))
        missing = set(self.trainable_state()) - set(state)
        if missing:
            raise TrainingError(f"checkpoint {path} lacks {sorted(missing)[:3]}")
        model = self.unwrapped()
        named = {**dict(model.named_parameters()), **dict(model.named_buffers())}
        with torch.no_grad():
            for n, v in state.items():
                named[n].copy_(v.to(named[n].device))
        models.pop(self._index_in(models))
        self.step = int(meta["step"])

    def _index_in(self, models: list[nn.Module]) -> int:
        """Where our model is in Accelerate's list (which may hold it wrapped or not)."""
        ours = self.unwrapped()
        return next(i for i, m in enumerate(models) if self.accelerator.unwrap_model(m) is ours)

    # ------------------------------------------------------------ the loop

    def run_eval(self) -> dict[str, float]:
        if self.evaluate_fn is None:
            return {}
        metrics: dict[str, float] = {}
        # a sharded model gathers its weights in every forward: every rank evaluates (the same
        # data, so the same calls), the main process logs
        if self.is_main or self.strategy is not None:
            model = self.unwrapped()
            was = model.training
            model.eval()
            with torch.no_grad(), self.accelerator.autocast():
                metrics = dict(self.evaluate_fn(model))
            model.train(was)
        self.accelerator.wait_for_everyone()
        if self.eval_loop is not None:  # chosen metrics, best weights, early stopping
            metrics = self.eval_loop.after_eval(self, metrics)
        if self.is_main:
            self.accelerator.log({f"eval/{k}": v for k, v in metrics.items()}, step=self.step)
        self._evaluated = (self.step, metrics)
        return metrics

    def fit(self, stop_after: int | None = None) -> dict[str, Any]:
        """Train to ``max_steps`` (resuming from the last checkpoint when ``resume``);
        ``stop_after`` stops early after that step (as an interruption would), having saved
        a checkpoint there when one was due. Finishes the trackers when it returns."""
        from accelerate.utils import send_to_device

        cfg, acc = self.cfg, self.accelerator
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            for tmp in (self.out / CKPT_DIR).glob(".tmp-*"):  # half-written by a killed save
                shutil.rmtree(tmp, ignore_errors=True)
        acc.wait_for_everyone()
        if cfg.resume and self.checkpoints():
            if self.strategy is not None and self.strategy.wraps_model:
                from .distributed.checkpoint import load_sharded

                load_sharded(self, self.checkpoints()[-1])
            else:
                acc.load_state(str(self.checkpoints()[-1]))
        acc.step = self.step * cfg.grad_accum  # micro-step count (an interrupt may save mid-step)
        if not acc.trackers:
            acc.init_trackers("tensorboard")  # TensorBoard events go to OUT/tensorboard
        model, optimizer, scheduler = self.model, self.optimizer, self.scheduler
        model.train()
        batches = self._batches(self.step * cfg.grad_accum)
        bar = None
        if cfg.progress_bar and self.is_main:
            from tqdm.auto import tqdm

            bar = tqdm(total=cfg.max_steps, initial=self.step, desc="train", dynamic_ncols=True)
        running, n_running = torch.zeros((), device=acc.device), 0
        last_loss, metrics = math.nan, {}
        result: dict[str, Any] = {}
        t0 = time.perf_counter()
        try:
            while self.step < cfg.max_steps:
                batch = send_to_device(next(batches), acc.device)
                with acc.accumulate(model):
                    out = model(**batch)
                    loss = out["loss"] if isinstance(out, dict) else out
                    acc.backward(loss)  # divided by grad_accum by Accelerate
                    if acc.sync_gradients and cfg.max_grad_norm:
                        acc.clip_grad_norm_(self.params, cfg.max_grad_norm)
                    optimizer.step()  # these three act only when the gradients are synced
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                running += loss.detach().float() / cfg.grad_accum
                if not acc.sync_gradients:
                    continue
                self.step += 1
                n_running += 1
                if bar is not None:
                    bar.update(1)
                if self.step % cfg.log_every == 0 or self.step == cfg.max_steps:
                    last_loss = float(acc.reduce(running, "mean")) / n_running
                    running.zero_()
                    n_running = 0
                    row = {"step": self.step, "loss": round(last_loss, 6), "lr": scheduler.get_last_lr()[0],
                           "elapsed_s": round(time.perf_counter() - t0, 3)}
                    self.history.append(row)
                    acc.log({f"train/{k}": v for k, v in row.items() if k != "step"}, step=self.step)
                    if bar is not None:
                        bar.set_postfix(loss=f"{last_loss:.4f}")
                    if not math.isfinite(last_loss):  # every rank has the same reduced value
                        raise TrainingError(
                            f"the training loss is {last_loss} at step {self.step} (steps since step "
                            f"{self.step - cfg.log_every}; {self.out}/train_log.csv): the run stops "
                            "rather than train on it; lower train.lr, check the data, or use fp32"
                        )
                if cfg.eval_every and self.step % cfg.eval_every == 0 and self.step < cfg.max_steps:
                    metrics = self.run_eval()
                    if self.eval_loop is not None and self.eval_loop.should_stop:
                        break  # early stopping: no improvement for eval.patience evaluations
                if cfg.save_every and self.step % cfg.save_every == 0:
                    self.save_checkpoint()
                if stop_after is not None and self.step >= stop_after:
                    break
            result = {"step": self.step, "train_loss": last_loss}
            if self.step >= cfg.max_steps or (self.eval_loop is not None and self.eval_loop.should_stop):
                result.update(self._finish())
            else:
                result.update(metrics)
        except KeyboardInterrupt:
            if self.world == 1:
                self.save_checkpoint()
            raise
        finally:
            if bar is not None:
                bar.close()
            for tracker in acc.trackers:  # end_training without destroying the process group:
                tracker.finish()          # a distributed process may train again (socratic
                                          # train ends the group when the command ends)
        return result

    def _finish(self) -> dict[str, Any]:
        """Final evaluation, ``save``, and the weights' digest (every rank must agree)."""
        from accelerate.utils import gather_object

        step, metrics = self._evaluated
        if step != self.step:  # (an early stop has just evaluated)
            metrics = self.run_eval()
        if self.eval_loop is not None:  # may put the best evaluated weights back
            metrics = self.eval_loop.finish(self, metrics)
        trained = self.trainable_state()  # whole tensors on every rank (a collective when sharded)
        if self.save_fn is not None and self.is_main:
            if self.strategy is not None:  # the export is consolidated: one process loads it
                with self.strategy.consolidated(self.unwrapped(), trained) as model:
                    self.save_fn(model, self.step)
            else:
                self.save_fn(self.unwrapped(), self.step)
        digests = gather_object([param_digest(trained)])
        if len(set(digests)) != 1:
            raise TrainingError(f"ranks disagree on the trained weights: {digests}")
        if self.is_main:
            state = {"step": self.step, "world_size": self.world, "digest": digests[0],
                     "rank_digests": digests, **metrics}
            (self.out / META).write_text(json.dumps(state) + "\n")
        self.accelerator.wait_for_everyone()
        return {"digest": digests[0], **metrics}
