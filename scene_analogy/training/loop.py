"""Contrastive training of the context descriptor field (DESIGN §4).

Per query: logits [cos(f_a, f_p), cos(f_a, f_n)] / tau, cross-entropy toward the positive. Adam with
step decay x0.2 at 40 % and 80 % of the steps. Validation on held-out triplets reports loss and
triplet accuracy (the fraction of queries whose positive is closer than their negative).

Outputs under `log_dir`: `model.pth` (`{"state_dict", "config"}`) + `config.json`, `train_state.pth`
(optimizer and schedule, for resuming), `history.json`, `curve.png`, `summary.json`; all written
atomically. A run restarted with the same `log_dir` resumes from `train_state.pth`: the same
triplets, queries and dropout as an uninterrupted run (`order.py`), under the schedule of the
restarted command's --steps and --learning_rate.

Runs on one process, or under `torchrun --nproc_per_node N` with DistributedDataParallel (gloo on
CPU, nccl on CUDA); only rank 0 writes files.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from scene_analogy.data.queries import QueryConfig
from scene_analogy.field.checkpoint import check_state_dict, load_field, load_problem, save_pretrained
from scene_analogy.field.model import FieldConfig
from scene_analogy.files import atomic
from scene_analogy.files.errors import DataError
from scene_analogy.files.json_files import read_json
from scene_analogy.training.dataset import TripletDataset, collate_triplets, draw_queries
from scene_analogy.training.order import TripletOrder


_GAMMA = 0.2  # the step decay's factor at 40 % and 80 % of the steps


@dataclass(frozen=True)
class TrainConfig:
    scene_root: str
    point_sample_root: str | None = None  # default: <scene_root>/point_samples
    log_dir: str = "./log/"
    run_name: str = "train"
    steps: int = 2000
    batch_size: int = 4
    learning_rate: float = 1e-4
    infonce_temp: float = 0.2
    num_sample_query: int = 32
    num_cache_query: int = 400
    sample_count: int = 50
    query_point_type: str = "obj_match_points"
    query_obj_match_add_bbox: bool = False
    val_every: int = 100
    ckpt_every: int = 100
    val_scenes: int = 32
    seed: int = 0
    wandb: bool = False
    device: str = "cpu"
    num_workers: int = 1
    load_feature_field: str | None = None

    @property
    def samples_root(self) -> str:
        return self.point_sample_root or os.path.join(self.scene_root, "point_samples")


def infonce(feats: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """feats (3B, Q, D) in anchor/positive/negative order per triplet -> (loss, triplet accuracy)."""
    a, p, n = feats.reshape(-1, 3, *feats.shape[1:]).unbind(1)
    cos_ap, cos_an = F.cosine_similarity(a, p, dim=-1), F.cosine_similarity(a, n, dim=-1)
    logits = torch.stack([cos_ap, cos_an], -1).reshape(-1, 2) / temperature
    loss = F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=logits.device))
    return loss, (cos_ap > cos_an).float().mean()


def _ddp_setup(device: str) -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _epoch(loader: DataLoader, first: bool):
    """An iterator over one epoch. The first one starts the (persistent) workers with one BLAS thread
    each: on a 2-core machine a worker's spinning OpenBLAS threads otherwise starve the training
    step (measured: 0.43 instead of 3.9 steps/s). Workers are spawned, so the variables apply."""
    if not first or loader.num_workers == 0:
        return iter(loader)
    names = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    saved = {n: os.environ.get(n) for n in names}
    os.environ.update({n: "1" for n in names})
    try:
        return iter(loader)
    finally:
        for n, v in saved.items():
            if v is None:
                os.environ.pop(n)
            else:
                os.environ[n] = v


def _to(batch: dict, device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _forward(model, batch: dict, queries: torch.Tensor) -> torch.Tensor:
    return model(queries, batch["points"], batch["labels"], batch["lengths"])


@torch.no_grad()
def validate(field, batches: list[dict], cfg: TrainConfig, device) -> dict[str, float]:
    """Loss and accuracy on fixed held-out queries (the same every time: seeded draw)."""
    field.eval()
    gen = torch.Generator().manual_seed(cfg.seed + 12345)
    losses, accs, weights = [], [], []
    for batch in batches:
        queries = draw_queries(batch, cfg.num_sample_query, gen)
        loss, acc = infonce(_forward(field, _to(batch, device), queries.to(device)), cfg.infonce_temp)
        losses.append(loss.item())
        accs.append(acc.item())
        weights.append(len(batch["index"]))
    field.train()
    return {"val_loss": float(np.average(losses, weights=weights)), "val_acc": float(np.average(accs, weights=weights))}


def _start_wandb(cfg: TrainConfig, field_cfg: FieldConfig):
    if not cfg.wandb:
        return None
    import wandb

    mode = os.environ.get("WANDB_MODE")
    netrc = Path.home() / ".netrc"
    has_key = os.environ.get("WANDB_API_KEY") or (netrc.is_file() and "api.wandb.ai" in netrc.read_text())
    if mode is None and not has_key:
        mode = "offline"
        print(f"wandb: no credentials found; logging offline under {cfg.log_dir} (upload later with `wandb sync`)")
    return wandb.init(project="scene-analogy", name=cfg.run_name, dir=cfg.log_dir, mode=mode,
                      config={**dataclasses.asdict(cfg), "field": dataclasses.asdict(field_cfg)})


def _save(field, optimizer, scheduler, step: int, history: list, cfg: TrainConfig, order: TripletOrder,
          query_gen: torch.Generator) -> None:
    """Each file is replaced atomically; train_state.pth goes last, so a run killed at any point
    resumes from a whole state, and history.json is never behind it (records past the resumed
    step are dropped on resume). The state holds every random stream the next steps read (the
    triplet order, the query draws, dropout's global generator), so a resumed run continues as an
    uninterrupted one would."""
    log_dir = Path(cfg.log_dir)
    atomic.write_json(log_dir / "history.json", history)
    save_pretrained(log_dir, field)
    state = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "step": step,
             "state_dict": field.state_dict(), "order": order.state(), "query_generator": query_gen.get_state(),
             "torch_rng": torch.get_rng_state()}
    with atomic.atomic_path(log_dir / "train_state.pth") as tmp:
        torch.save(state, tmp)


def _schedule(optimizer, scheduler, cfg: TrainConfig, step: int) -> None:
    """The step decay of `cfg` (its --steps and --learning_rate) at `step`: a resumed state carries
    the milestones and rate of the run that saved it, which a changed --steps or --learning_rate
    must replace (else the old schedule silently goes on)."""
    milestones = Counter(_milestones(cfg.steps))
    decay = _GAMMA ** sum(count for m, count in milestones.items() if m <= step)
    scheduler.milestones = milestones
    scheduler.base_lrs = [cfg.learning_rate for _ in optimizer.param_groups]
    for group in optimizer.param_groups:
        group["initial_lr"], group["lr"] = cfg.learning_rate, cfg.learning_rate * decay
    scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]


def _milestones(steps: int) -> list[int]:
    return [max(1, int(0.4 * steps)), max(2, int(0.8 * steps))]


def _load_state(path: Path, field, optimizer, scheduler) -> tuple[int, dict]:
    """(step, the state's random streams: 'order', 'query_generator', 'torch_rng'; absent in states
    saved before they were kept)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch/pickle raise many types for damaged, foreign or hostile files
        raise DataError(path, f"cannot resume from this training state ({load_problem(exc)}); delete it to start "
                              "afresh") from None
    try:
        check_state_dict(state.get("state_dict") if isinstance(state, dict) else state, field, path)
    except DataError as exc:
        raise DataError(path, f"cannot resume: the training state is of another field configuration ({exc.problem}); "
                              "delete it or use another --log_dir") from None
    try:
        field.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        return int(state["step"]), {k: state[k] for k in ("order", "query_generator", "torch_rng") if k in state}
    except Exception as exc:  # torch/pickle raise many types for damaged, foreign or hostile files
        raise DataError(path, f"cannot resume from this training state ({load_problem(exc)}); delete it to start "
                              "afresh") from None


def train(cfg: TrainConfig, field_cfg: FieldConfig, progress: bool = True) -> dict:
    rank, world = _ddp_setup(cfg.device)
    device = torch.device(cfg.device)
    if world > 1 and device.type == "cuda" and device.index is None:  # one GPU per rank, as NCCL needs
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)))
        torch.cuda.set_device(device)
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank
    # A start field must embed the data's classes (a semantics-free run, num_classes 0, checks nothing).
    field = load_field(cfg.load_feature_field, num_classes=field_cfg.num_classes or None) if cfg.load_feature_field \
        else field_cfg.build()
    field_cfg = field.cfg
    field.to(device).train()
    model = torch.nn.parallel.DistributedDataParallel(field) if world > 1 else field
    trainable = [p for p in field.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=cfg.learning_rate)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, _milestones(cfg.steps), gamma=_GAMMA)

    log_dir = Path(cfg.log_dir)
    history: list[dict] = []
    step, streams = 0, {}
    if rank == 0 and log_dir.is_dir():
        for tmp in atomic.remove_stale_temporaries(log_dir):  # an interrupted save; its old file is intact
            print(f"removed {tmp} (left by an interrupted save)")
    if (log_dir / "train_state.pth").is_file():
        step, streams = _load_state(log_dir / "train_state.pth", field, optimizer, scheduler)
        _schedule(optimizer, scheduler, cfg, step)
        if (log_dir / "history.json").is_file():
            history = [h for h in read_json(log_dir / "history.json", "training history") if h["step"] <= step]
        if rank == 0:
            print(f"resuming from {log_dir / 'train_state.pth'} at step {step}")

    query_cfg = QueryConfig(cfg.query_point_type, cfg.query_obj_match_add_bbox)
    data = TripletDataset(cfg.scene_root, "train", cfg.samples_root, query_cfg, cfg.num_cache_query, cfg.sample_count, seed=cfg.seed)
    val_data = TripletDataset(cfg.scene_root, "test", cfg.samples_root, query_cfg, cfg.num_cache_query,
                              cfg.sample_count, limit=cfg.val_scenes, seed=cfg.seed)
    val_batches = [collate_triplets([val_data[i] for i in range(s, min(s + cfg.batch_size, len(val_data)))])
                   for s in range(0, len(val_data), cfg.batch_size)]
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + rank)
    order = TripletOrder(len(data), cfg.seed, rank, world)
    if streams:  # continue every random stream where the saved run stood (an old state: fresh ones)
        order.restore(streams["order"])
        gen.set_state(streams["query_generator"])
    loader = DataLoader(data, cfg.batch_size, sampler=order, num_workers=cfg.num_workers, collate_fn=collate_triplets,
                        persistent_workers=cfg.num_workers > 0, drop_last=len(data) >= cfg.batch_size * world,
                        multiprocessing_context="spawn" if cfg.num_workers > 0 else None)
    run = _start_wandb(cfg, field_cfg) if rank == 0 else None
    if rank == 0:
        print(f"training {cfg.steps} steps ({cfg.steps - step} to go) on {len(data)} train / {len(val_data)} held-out triplets, "
              f"{world} process(es), batch {cfg.batch_size}, preset layers={field_cfg.num_layers}")

    start, start_step, epoch, first = time.perf_counter(), step, order.epoch, True
    bar = tqdm(total=cfg.steps, initial=step, desc="train", disable=not progress or rank != 0)
    while step < cfg.steps:
        order.set_epoch(epoch)
        batches = _epoch(loader, first=first)
        if first and "torch_rng" in streams:
            # After the epoch's iterator is made: making it draws a seed from the global generator,
            # which the saved state (taken mid-epoch) already holds.
            torch.set_rng_state(streams["torch_rng"])
        for batch in batches:
            order.advance(len(batch["index"]))
            # Drawn on the CPU from the CPU batch (the generator is a CPU one), then moved with it.
            queries = draw_queries(batch, cfg.num_sample_query, gen).to(device)
            batch = _to(batch, device)
            loss, acc = infonce(_forward(model, batch, queries), cfg.infonce_temp)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            lr = optimizer.param_groups[0]["lr"]  # the rate this step uses (the scheduler moves it next)
            optimizer.step()
            scheduler.step()
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", acc=f"{acc.item():.2f}")
            record = {"step": step, "loss": loss.item(), "acc": acc.item(), "lr": lr}
            if step % cfg.val_every == 0 or step == cfg.steps:
                record.update(validate(field, val_batches, cfg, device))
            if rank == 0:
                history.append(record)
                if run is not None:
                    run.log(record, step=step)
                if step % cfg.ckpt_every == 0 or step == cfg.steps:
                    _save(field, optimizer, scheduler, step, history, cfg, order, gen)
            if step >= cfg.steps:
                break
        else:
            epoch += 1
        first = False
    bar.close()
    seconds = time.perf_counter() - start
    summary = _finish(field, history, cfg, rank, world, seconds, step - start_step)
    if run is not None:
        run.finish()
    return summary


def _finish(field, history, cfg: TrainConfig, rank: int, world: int, seconds: float, steps_run: int) -> dict:
    """Check DDP replicas agree, then write the summary and the training curve (rank 0)."""
    identical = True
    if world > 1:  # on the field's device: NCCL gathers CUDA tensors only
        flat = torch.cat([p.detach().reshape(-1) for p in field.parameters()])
        gathered = [torch.zeros_like(flat) for _ in range(world)]
        dist.all_gather(gathered, flat)
        identical = all(torch.equal(gathered[0], g) for g in gathered)
        dist.barrier()
    last_val = next((h for h in reversed(history) if "val_acc" in h), {})
    summary = {
        "steps": history[-1]["step"] if history else 0, "wall_seconds": seconds,
        "steps_per_second": steps_run / seconds if seconds > 0 else 0.0,
        "val_loss": last_val.get("val_loss"), "val_acc": last_val.get("val_acc"),
        "world_size": world, "replicas_identical": identical, "config": dataclasses.asdict(cfg),
    }
    if rank == 0:
        atomic.write_json(Path(cfg.log_dir) / "summary.json", summary)
        if history:
            from scene_analogy.vis.pictures import save_training_curve

            save_training_curve(history, Path(cfg.log_dir) / "curve.png")
    return summary
