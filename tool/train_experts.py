"""Train the three part experts (body, hand, face) on the embedded whole-body world and measure them on its test
split against their constant references (docs/furpe.md, "Experts in the embedded world").

    python -m tool.train_experts --cfg configs/wholebody_quickstart.yaml --out output/experts [--iters 300]

Crops are placed from the GT 2D keypoints (data/pseudo_labels/expert_crops.py) and cut once per person
(``--variants`` copies, all but the first with box jitter ``--jitter``), then each expert trains ``--iters`` Adam
steps (``train.lr``, cosine to ``train.min_lr_factor``; batch ``data.batch_size``). Sizes come from the config:
body crop ``data.input_size`` / ``model.backbone``; hand / head crops ``wholebody.hand_crop_size`` /
``head_crop_size`` with ``wholebody.part_backbone``; box scales ``wholebody.hand_box_scale`` / ``head_box_scale``;
IEF ``wholebody.ief_*``. Writes ``<out>/{body,hand,face}.pth`` (atomic) and ``<out>/metrics.json``.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence

import numpy as np
import torch

from data.pseudo_labels.expert_crops import EXPERT_OF, crop_image, expert_targets, jitter_boxes, part_boxes

log = logging.getLogger("train_experts")


def crop_sizes(cfg) -> dict[str, int]:
    return {"body": cfg.data.input_size, "hand": cfg.wholebody.hand_crop_size, "face": cfg.wholebody.head_crop_size}


def build_expert(cfg, kind: str, mean: torch.Tensor | None = None):
    """A fresh :class:`PartExpert` of ``kind`` with the config's sizes."""
    from common.models.furpe.experts import PartExpert

    w = cfg.wholebody
    return PartExpert(kind, cfg.model.backbone if kind == "body" else w.part_backbone, crop_sizes(cfg)[kind], mean,
                      w.ief_hidden, w.ief_stages, w.ief_dropout, cfg.model.pretrained, cfg.model.zero_init_residual)


def collect_crops(cfg, records: Sequence, ids: dict, variants: int, jitter: float, seed: int) -> dict[str, dict]:
    """Per expert kind: {'crops' uint8 (N, V, 3, s, s), 'targets' {field: (N, ...)}, 'person' (N,) record
    index, 'side' (N,) crop part}; a part is used where the world marks it valid and its box can be placed.
    ``ids``: ``part_point_ids`` of the layer's defined keypoints."""
    from data.image_io import load_image

    f32 = lambda key: np.stack([np.asarray(getattr(r, key), np.float32) for r in records])  # noqa: E731
    targets = expert_targets(f32("smplx_pose"), f32("smplx_betas"), f32("smplx_expression"))
    sizes, rng = crop_sizes(cfg), np.random.default_rng(seed)
    out = {kind: {"crops": [], "person": [], "side": []} for kind in ("body", "hand", "face")}
    by_image: dict[str, list[int]] = {}
    for i, rec in enumerate(records):
        by_image.setdefault(rec.image_path, []).append(i)
    for path, people in by_image.items():
        image = load_image(path)
        for i in people:
            rec = records[i]
            boxes = part_boxes(rec.joints2d, rec.joints2d_valid > 0, ids, cfg.wholebody.hand_box_scale,
                               cfg.wholebody.head_box_scale)
            for part, box in boxes.items():
                if box is None or (part != "body" and not getattr(rec, f"{part}_valid")):
                    continue
                kind = EXPERT_OF[part]
                many = np.concatenate([box[None], jitter_boxes(np.repeat(box[None], variants - 1, 0), jitter, rng)])
                crops = crop_image(image, many, sizes[kind], [part == "left_hand"] * variants)
                out[kind]["crops"].append((crops * 255).round().to(torch.uint8))
                out[kind]["person"].append(i)
                out[kind]["side"].append(part)
    for d in out.values():
        idx, sides = torch.as_tensor(d["person"], dtype=torch.long), d["side"]
        fields = {}
        for part in sorted(set(sides)):
            sel = torch.as_tensor([s == part for s in sides])
            for name, value in targets[part].items():
                fields.setdefault(name, torch.zeros((len(sides), *value.shape[1:])))[sel] = value[idx[sel]]
        d.update(crops=torch.stack(d["crops"]) if d["crops"] else torch.zeros(0), targets=fields)
    return out


def train_expert(cfg, kind: str, data: dict, iters: int, seed: int) -> tuple:
    """Train one expert from its training set's mean -> (model, {'loss_first', 'loss_last', 'seconds'})."""
    from common.models.furpe.experts import expert_loss, mean_vector

    torch.manual_seed(seed)
    model = build_expert(cfg, kind, mean_vector(kind, data["targets"]))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(iters, 1),
                                                       eta_min=cfg.train.lr * cfg.train.min_lr_factor)
    gen, n, batch = torch.Generator().manual_seed(seed), len(data["crops"]), cfg.data.batch_size
    losses, start = [], time.perf_counter()
    model.train()
    for it in range(iters):
        pick = torch.randint(n, (batch,), generator=gen)
        variant = torch.randint(data["crops"].shape[1], (batch,), generator=gen)
        images = data["crops"][pick, variant].float() / 255.0
        loss, terms = expert_loss(model(images), {k: v[pick] for k, v in data["targets"].items()})
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if cfg.train.log_every and (it + 1) % cfg.train.log_every == 0:
            log.info("%s expert %d/%d loss %.4f %s", kind, it + 1, iters, losses[-1],
                     " ".join(f"{k} {v:.4f}" for k, v in terms.items()))
    k = max(1, min(20, iters // 5))
    return model.eval(), {"loss_first": float(np.mean(losses[:k])) if losses else None,
                          "loss_last": float(np.mean(losses[-k:])) if losses else None,
                          "seconds": round(time.perf_counter() - start, 1)}


@torch.no_grad()
def evaluate_expert(cfg, kind: str, model, data: dict, records: Sequence, layer, parts: dict) -> dict:
    """Mean test errors of ``model`` and of its constant start (+ the neutral face) on un-jittered crops."""
    from common.wholebody.params import mirror_rotmats
    from tool import expert_metrics as m

    if not len(data["crops"]):
        return {}
    preds = [model(data["crops"][s:s + 64, 0].float() / 255.0) for s in range(0, len(data["crops"]), 64)]
    pred = {k: torch.cat([p[k] for p in preds]) for k in preds[0] if k not in ("feature", "vector")}
    const = model.constant(len(data["crops"]))
    person = np.asarray(data["person"])
    f32 = lambda key: np.stack([np.asarray(getattr(records[i], key), np.float32) for i in person])  # noqa: E731
    gt = m.gt_params(f32("smplx_pose"), f32("smplx_betas"), f32("smplx_expression"))
    if kind == "body":
        return {name: {k: float(v.mean()) for k, v in m.body_errors(layer, gt, p["global_orient"],
                                                                    p["body_pose"]).items()}
                for name, p in (("expert", pred), ("mean_pose", const))}
    if kind == "face":
        zeros = {"jaw_pose": torch.eye(3).expand(len(person), 3, 3), "expression": torch.zeros(len(person), 10)}
        return {name: {"pa_v2v_face": float(m.face_errors(layer, gt, p["jaw_pose"], p["expression"],
                                                          parts["face"]).mean())}
                for name, p in (("expert", pred), ("expert_start", const), ("neutral_face", zeros))}
    out = {}
    for name, p in (("expert", pred), ("mean_hand", const)):
        errs = {}
        for side, key in (("left", "l_hand"), ("right", "r_hand")):
            sel = np.asarray([s == f"{side}_hand" for s in data["side"]])
            if sel.any():
                rows = torch.as_tensor(sel)
                fingers = p["hand_pose"][rows]
                fingers = mirror_rotmats(fingers) if side == "left" else fingers
                sub = gt.map(lambda t, rows=rows: t[rows])
                errs[f"pa_v2v_{key}"] = float(m.hand_errors(layer, sub, side, fingers, parts[key]).mean())
        out[name] = errs
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cfg", required=True)
    parser.add_argument("--out", required=True, help="folder of body.pth, hand.pth, face.pth, metrics.json")
    parser.add_argument("--iters", type=int, default=300, help="optimizer steps per expert")
    parser.add_argument("--experts", nargs="+", default=["body", "hand", "face"], choices=["body", "hand", "face"])
    parser.add_argument("--variants", type=int, default=3, help="crops per person and part (1 = no jitter)")
    parser.add_argument("--jitter", type=float, default=0.1, help="box jitter of the extra crops (x box side)")
    parser.add_argument("--opts", nargs="*", default=[])
    args = parser.parse_args(argv)
    from common.cli import cli_session

    with cli_session() as status:
        status.code = run(args) or 0
    return status.code


def run(args) -> None:
    from common.config import load_config
    from common.engine.expert_checkpoint import save_expert
    from common.engine.seed import seed_everything
    from common.errors import UserError, ensure_output_dir
    from data.pseudo_labels.expert_crops import part_point_ids
    from data.synthetic_wholebody.dataset import build_world, load_synthetic_wholebody_records
    from tool.expert_metrics import part_vertex_ids

    cfg = load_config(args.cfg, args.opts)
    if cfg.model.family != "wholebody" or "synthetic_wholebody" not in cfg.data.train_sets:
        raise UserError(f"{args.cfg}: the experts train on the whole-body world (model.family=wholebody, "
                        "data.train_sets with synthetic_wholebody)")
    if args.iters < 0 or args.variants < 1 or not 0 <= args.jitter < 1:
        raise UserError("--iters >= 0, --variants >= 1 and --jitter in [0, 1) please")
    out = ensure_output_dir(args.out, "experts folder")
    torch.set_num_threads(max(cfg.experiment.num_threads, 1))
    seed_everything(cfg.experiment.seed)
    train, test = (load_synthetic_wholebody_records(s, cfg) for s in ("train", "test"))
    layer = build_world(cfg)[0]
    parts, ids = part_vertex_ids(cfg, layer.num_vertices), part_point_ids(layer.keypoints_valid.cpu().numpy())
    data_train = collect_crops(cfg, train, ids, args.variants, args.jitter, cfg.experiment.seed)
    data_test = collect_crops(cfg, test, ids, 1, 0.0, cfg.experiment.seed)
    metrics = {"iters": args.iters, "train_people": len(train), "test_people": len(test)}
    for kind in args.experts:
        model, stats = train_expert(cfg, kind, data_train[kind], args.iters, cfg.experiment.seed)
        save_expert(out / f"{kind}.pth", model, cfg, {"train": stats})
        metrics[kind] = {**stats, "train_crops": len(data_train[kind]["crops"]),
                         "test_crops": len(data_test[kind]["crops"]),
                         **evaluate_expert(cfg, kind, model, data_test[kind], test, layer, parts)}
        print(f"{kind}: {json.dumps(metrics[kind])}", flush=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))


if __name__ == "__main__":
    sys.exit(main())
