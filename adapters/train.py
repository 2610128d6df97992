"""A small trainer on Hugging Face Accelerate.

bf16 / fp16 autocast, gradient accumulation (``no_sync`` on the inner micro-steps under DDP),
gradient clipping, AdamW (no weight decay on biases and norms), warmup with linear / cosine /
constant decay (``transformers.get_scheduler``), evaluation every N steps, atomic checkpoints
(written to a temporary folder, then renamed) of the trainable weights, optimizer, scheduler and
every rank's RNG states, keeping the last N; exact resume (the data order is a pure function of
seed, epoch and step, so the data position is restored too); a tqdm progress bar, CSV and
TensorBoard logs. Under ``torchrun`` (or ``accelerate launch``) it runs DDP; each rank reads its
own slice of every global batch.

Example:
    >>> trainer = Trainer(model, dataset, collate, TrainConfig(output_dir="runs/x"))  # doctest: +SKIP
    >>> trainer.fit()                                                                # doctest: +SKIP
    {'step': 1000, 'train_loss': 0.12, ...}
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from socratic.errors import TrainingError

from .config import TrainConfig

__all__ = ["Trainer", "TrainingError", "make_accelerator", "param_digest"]

CKPT_DIR = "checkpoints"



def param_digest(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 of the exact bytes of named tensors (to compare runs or ranks)."""
    import hashlib

    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


def make_accelerator(cpu: bool, mixed_precision: str) -> Any:
    """An ``Accelerator`` for one run. Accelerate keeps one global state per process; in a
    single (non-distributed) process a later run with another precision resets it instead of
    failing, so several runs can follow each other in one Python session."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, PartialState

    state = AcceleratorState._shared_state
    device = PartialState._shared_state.get("device")
    want = "cpu" if cpu else "cuda"
    changed = bool(state) and state.get("_mixed_precision", mixed_precision) != mixed_precision
    changed = changed or (device is not None and torch.device(device).type != want)
    if changed:
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise TrainingError(
                "train.mixed_precision / train.cpu differ from what this distributed process "
                "started with"
            )
        AcceleratorState._reset_state(reset_partial_state=True)
    if cpu and mixed_precision == "fp16":
        raise TrainingError("train.mixed_precision: fp16 needs a GPU (use bf16 or no on CPU)")
    return Accelerator(cpu=cpu, mixed_precision=mixed_precision)


class Trainer:
    """Train the parameters of ``model`` that require grad.

    ``model(**batch)`` returns a dict with ``"loss"`` (or a loss tensor); ``collate`` turns a
    list of dataset items into that batch. ``evaluate(model) -> dict`` (optional) is called
    every ``eval_every`` steps and at the end on the main process; ``save(model, step)``
    (optional) writes the final artefact.

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
    ) -> None:
        self.cfg = cfg
        self.collate = collate
        self.dataset = train_dataset
        self.evaluate_fn = evaluate
        self.save_fn = save
        cpu = cfg.cpu or not torch.cuda.is_available()
        self.accelerator = accelerator or make_accelerator(cpu, cfg.mixed_precision)
        acc = self.accelerator
        self.rank, self.world = acc.process_index, acc.num_processes
        self.out = Path(cfg.output_dir)
        self.params = [p for p in model.parameters() if p.requires_grad]
        if not self.params:
            raise TrainingError("the model has no trainable parameters")
        self.trainable_names = [n for n, p in model.named_parameters() if p.requires_grad]
        decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim >= 2]
        no_decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim < 2]
        optimizer = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": cfg.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=cfg.lr,
            betas=cfg.betas,
        )
        from transformers import get_scheduler

        name = {"constant": "constant_with_warmup"}.get(cfg.schedule, cfg.schedule)
        self.scheduler = get_scheduler(
            name, optimizer, num_warmup_steps=cfg.warmup_steps, num_training_steps=cfg.max_steps
        )
        self.model, self.optimizer = acc.prepare(model, optimizer)
        self.global_batch = cfg.batch_size * self.world
        self.batches_per_epoch = len(train_dataset) // self.global_batch
        if self.batches_per_epoch == 0:
            raise TrainingError(
                f"the training set ({len(train_dataset)} examples) is smaller than one global "
                f"batch ({cfg.batch_size} x {self.world} processes)"
            )
        self.step = 0
        self.history: list[dict[str, float]] = []
        self._perm_epoch = -1
        self._perm: np.ndarray = np.arange(0)

    # ------------------------------------------------------------ helpers

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    def unwrapped(self) -> nn.Module:
        return self.accelerator.unwrap_model(self.model)

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """Trained parameters (and, when the model says so, trained buffers) by name."""
        model = self.unwrapped()
        own = getattr(model, "trainable_state_dict", None)
        if callable(own):
            return dict(own())
        named = dict(model.named_parameters())
        return {n: named[n].detach() for n in self.trainable_names}

    def _batch_indices(self, micro: int) -> list[int]:
        """Dataset indices of this rank's part of global micro-batch number ``micro``."""
        epoch, b = divmod(micro, self.batches_per_epoch)
        if self._perm_epoch != epoch:  # one permutation per epoch, a pure function of (seed, epoch)
            self._perm = np.random.default_rng([self.cfg.seed, epoch]).permutation(len(self.dataset))
            self._perm_epoch = epoch
        perm = self._perm
        start = b * self.global_batch + self.rank * self.cfg.batch_size
        return perm[start : start + self.cfg.batch_size].tolist()

    def _batches(self, first_micro: int) -> Iterator[dict[str, Any]]:
        if self.cfg.num_workers:
            from torch.utils.data import DataLoader

            class _Sampler:
                def __init__(s, start: int) -> None:
                    s.start = start

                def __iter__(s):  # type: ignore[no-untyped-def]
                    m = s.start
                    while True:
                        yield self._batch_indices(m)
                        m += 1

            loader = DataLoader(
                self.dataset,  # type: ignore[arg-type]
                batch_sampler=_Sampler(first_micro),
                collate_fn=self.collate,
                num_workers=self.cfg.num_workers,
            )
            yield from loader
            return
        m = first_micro
        while True:
            yield self.collate([self.dataset[i] for i in self._batch_indices(m)])
            m += 1

    def _to_device(self, batch: dict[str, Any]) -> dict[str, Any]:
        dev = self.accelerator.device
        return {k: v.to(dev) if torch.is_tensor(v) else v for k, v in batch.items()}

    # ------------------------------------------------------------ checkpoints

    def checkpoints(self) -> list[Path]:
        root = self.out / CKPT_DIR
        if not root.is_dir():
            return []
        return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-"))

    def save_checkpoint(self) -> Path:
        """Write ``checkpoints/step-NNNNNNN`` atomically; keep the last ``keep_last``."""
        from safetensors.torch import save_file

        acc = self.accelerator
        root = self.out / CKPT_DIR
        final = root / f"step-{self.step:07d}"
        tmp = root / f".tmp-step-{self.step:07d}"
        if self.is_main:
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
        acc.wait_for_everyone()
        rng = {
            "python": random.getstate(),
            "numpy": np.random.get_state(),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        }
        torch.save(rng, tmp / f"rng-{self.rank}.pt")
        acc.wait_for_everyone()
        if self.is_main:
            state = {k: v.contiguous().cpu() for k, v in self.trainable_state().items()}
            save_file(state, str(tmp / "trainable.safetensors"))
            torch.save(self.optimizer.state_dict(), tmp / "optimizer.pt")
            torch.save(self.scheduler.state_dict(), tmp / "scheduler.pt")
            (tmp / "trainer_state.json").write_text(
                json.dumps({"step": self.step, "world_size": self.world, "seed": self.cfg.seed})
            )
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
            for old in self.checkpoints()[: -self.cfg.keep_last]:
                shutil.rmtree(old, ignore_errors=True)
        acc.wait_for_everyone()
        return final

    def load_checkpoint(self, path: Path) -> None:
        from safetensors.torch import load_file

        meta = json.loads((path / "trainer_state.json").read_text())
        if meta.get("world_size", 1) != self.world:
            raise TrainingError(
                f"checkpoint {path} was written by {meta.get('world_size')} processes, this run "
                f"has {self.world}: the data order would differ"
            )
        state = load_file(str(path / "trainable.safetensors"))
        missing = set(self.trainable_state()) - set(state)
        if missing:
            raise TrainingError(f"checkpoint {path} lacks {sorted(missing)[:3]}")
        named = self.unwrapped().state_dict(keep_vars=True)
        with torch.no_grad():
            for n, v in state.items():
                named[n].copy_(v.to(named[n].device))
        self.optimizer.load_state_dict(
            torch.load(path / "optimizer.pt", map_location="cpu", weights_only=False)
        )
        self.scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=False))
        rng_file = path / f"rng-{self.rank}.pt"
        rng = torch.load(rng_file, weights_only=False)
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        torch.set_rng_state(rng["torch"])
        if rng.get("cuda") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.step = int(meta["step"])

    # ------------------------------------------------------------ logs

    def _log_csv(self, name: str, row: dict[str, Any]) -> None:
        if not self.is_main:
            return
        path = self.out / name
        new = not path.exists()
        with open(path, "a", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)

    def _tb(self) -> Any:
        if not (self.is_main and self.cfg.tensorboard):
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard not installed: CSV only
            return None
        return SummaryWriter(str(self.out / "tensorboard"))

    def run_eval(self, tb: Any = None) -> dict[str, float]:
        if self.evaluate_fn is None:
            return {}
        metrics: dict[str, float] = {}
        if self.is_main:
            model = self.unwrapped()
            was = model.training
            model.eval()
            with torch.no_grad(), self.accelerator.autocast():
                metrics = dict(self.evaluate_fn(model))
            model.train(was)
            self._log_csv("eval_log.csv", {"step": self.step, **metrics})
            if tb is not None:
                for k, v in metrics.items():
                    tb.add_scalar(f"eval/{k}", v, self.step)
        self.accelerator.wait_for_everyone()
        return metrics

    # ------------------------------------------------------------ the loop

    def fit(self, stop_after: int | None = None) -> dict[str, Any]:
        """Train to ``max_steps`` (resuming from the last checkpoint when ``resume``);
        ``stop_after`` stops early after that step (as an interruption would), having saved
        a checkpoint there when one was due."""
        cfg, acc = self.cfg, self.accelerator
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
        acc.wait_for_everyone()
        if cfg.resume and self.checkpoints():
            self.load_checkpoint(self.checkpoints()[-1])
        tb = self._tb()
        model = self.model
        model.train()
        batches = self._batches(self.step * cfg.grad_accum)
        bar = None
        if cfg.progress_bar and self.is_main:
            from tqdm.auto import tqdm

            bar = tqdm(total=cfg.max_steps, initial=self.step, desc="train", dynamic_ncols=True)
        running = torch.zeros((), device=acc.device)
        n_running = 0
        last_loss = math.nan
        metrics: dict[str, float] = {}
        t0 = time.perf_counter()
        try:
            while self.step < cfg.max_steps:
                for micro in range(cfg.grad_accum):
                    batch = self._to_device(next(batches))
                    sync = micro == cfg.grad_accum - 1
                    ctx = contextlib.nullcontext() if sync else acc.no_sync(model)
                    with ctx:
                        with acc.autocast():
                            out = model(**batch)
                        loss = out["loss"] if isinstance(out, dict) else out
                        acc.backward(loss / cfg.grad_accum)
                    running += loss.detach().float() / cfg.grad_accum
                if cfg.max_grad_norm:
                    acc.clip_grad_norm_(self.params, cfg.max_grad_norm)
                self.optimizer.step()
                if not getattr(self.optimizer, "step_was_skipped", False):  # fp16 overflow
                    self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
                self.step += 1
                n_running += 1
                if bar is not None:
                    bar.update(1)
                if self.step % cfg.log_every == 0 or self.step == cfg.max_steps:
                    last_loss = float(acc.reduce(running, "mean")) / n_running
                    running.zero_()
                    n_running = 0
                    elapsed = time.perf_counter() - t0
                    row = {
                        "step": self.step,
                        "loss": round(last_loss, 6),
                        "lr": self.scheduler.get_last_lr()[0],
                        "elapsed_s": round(elapsed, 3),
                    }
                    self.history.append(row)
                    self._log_csv("train_log.csv", row)
                    if tb is not None:
                        tb.add_scalar("train/loss", last_loss, self.step)
                        tb.add_scalar("train/lr", row["lr"], self.step)
                    if bar is not None:
                        bar.set_postfix(loss=f"{last_loss:.4f}")
                due = cfg.eval_every and self.step % cfg.eval_every == 0
                if due and self.step < cfg.max_steps:
                    metrics = self.run_eval(tb)
                if cfg.save_every and self.step % cfg.save_every == 0:
                    self.save_checkpoint()
                if stop_after is not None and self.step >= stop_after:
                    break
        except KeyboardInterrupt:
            if self.world == 1:
                self.save_checkpoint()
            raise
        finally:
            if bar is not None:
                bar.close()
        result: dict[str, Any] = {"step": self.step, "train_loss": last_loss}
        if self.step >= cfg.max_steps:
            metrics = self.run_eval(tb)
            if self.save_fn is not None and self.is_main:
                self.save_fn(self.unwrapped(), self.step)
            digests = self._check_ranks_agree()
            result["digest"] = digests[0]
            if self.is_main:
                state = {"step": self.step, "world_size": self.world, "digest": digests[0],
                         "rank_digests": digests, **metrics}
                (self.out / "trainer_state.json").write_text(json.dumps(state) + "\n")
            acc.wait_for_everyone()
        if tb is not None:
            tb.close()
        result.update(metrics)
        return result

    def _check_ranks_agree(self) -> list[str]:
        """Digest of the trained weights on every rank; they must all be equal."""
        local = param_digest(self.trainable_state())
        gathered: list[Any] = [local]
        if self.world > 1:
            import torch.distributed as dist

            gathered = [None] * self.world
            dist.all_gather_object(gathered, local)
            if len(set(gathered)) != 1:
                raise TrainingError(f"ranks disagree on the trained weights: {gathered}")
        return gathered
