"""Label a split of the embedded whole-body world with part experts into FuRPE's files (docs/furpe.md).

    python -m tool.label_with_experts --cfg configs/wholebody_quickstart.yaml --experts output/experts \
        --out output/furpe_labels [--split train] [--keypoint-noise 2] [--limit N]
    python -m tool.label_with_experts --cfg ... --experts gt --out ... [--label-noise 0.1]   # labels from GT

Writes, per image, ``<out>/params3d_v/<name>/<stem>.npy`` (the release's label dict, furpe_writer.py) and
``<out>/keypoints/<name>/<stem>_keypoints.json`` (OpenPose detections), with ``<name>`` the dataset
(``synthetic_wholebody``; ``synthetic_wholebody_test`` for the test split, whose file names repeat the train
split's), and ``<out>/manifest/<name>.json`` (which person of each image, the experts, the options).

- **Every person** (``--people all``, the default): one label per kept person, named as the ``pseudo_labels``
  dataset reads them (``label_stem``: the image stem, ``<stem>_<person_id>`` where the image shows several
  people). ``--people largest`` writes FuRPE's layout instead, one person per image (the largest box,
  ``largest_person``), named by the image stem, for ``load_pseudo_labels`` / ``load_pseudo_label_records``. Each
  JSON holds only its person; the manifest gives ``image_id`` + ``person_id`` (the world's records).
- **Detections** = the world's 2D keypoints; confidence 1 where the point is visible, 0 otherwise. With
  ``--keypoint-noise S`` (px) each visible point moves by N(0, S^2) per axis and its confidence becomes
  exp(-|e|^2 / (8 S^2)) (|e| its displacement), so the released confidence filters drop the worst points.
- **Experts** (``--experts DIR``: ``DIR/{body,hand,face}.pth`` of ``--parts``): crops are placed from the
  detections (expert_crops.py), never from GT 3D; a hand / face with fewer than 3 confident points gets no label.
  Features = the experts' 1024-d features. ``--experts gt``: labels from the GT parameters through
  ``expert_outputs_from_smplx`` and back (identity conversion), parts as the world marks them valid, optional
  N(0, ``--label-noise``^2) on every axis-angle component and expression coefficient; no features.
- **Hands are stored relative to the model file's hand mean** (FrankMocap / the release);
  read them with ``hand_mean=hand_means_from_layer(WholeBodyLayer.from_config(cfg))``.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

PARTS_CHOICES = ("body", "hand", "face")


def detections(rec, noise: float, rng: np.random.Generator) -> np.ndarray:
    """(137, 3) x, y, confidence of one record's GT 2D keypoints (module docstring)."""
    xy = np.asarray(rec.joints2d, np.float64).reshape(137, 2)
    conf = (np.asarray(rec.joints2d_valid) > 0).astype(np.float64)
    if noise > 0:
        err = rng.normal(0.0, noise, xy.shape)
        xy = xy + err * conf[:, None]
        conf = conf * np.exp(-(err ** 2).sum(1) / (8 * noise ** 2))
    return np.concatenate([xy * (conf[:, None] > 0), conf[:, None]], 1).astype(np.float32)


def load_experts(source: str, parts: Sequence[str]) -> dict:
    """{kind: PartExpert} from ``source``/<kind>.pth (ExpertError naming a missing or wrong file)."""
    from common.engine.expert_checkpoint import load_expert

    return {kind: load_expert(Path(source) / f"{kind}.pth", kind) for kind in parts}


@torch.no_grad()
def expert_label(image: np.ndarray, det: np.ndarray, experts: dict, ids: dict, cfg, hand_mean: dict) -> dict:
    """One person's label dict from the experts on crops placed from its detections ``det`` (137, 3)."""
    from common.wholebody.params import mirror_rotmats
    from data.pseudo_labels.expert_crops import crop_image, part_boxes
    from data.pseudo_labels.experts import rotmat_to_aa
    from data.pseudo_labels.furpe_writer import furpe_label_dict

    boxes = part_boxes(det[:, :2], det[:, 2] > 0, ids, cfg.wholebody.hand_box_scale, cfg.wholebody.head_box_scale)
    if boxes["body"] is None or "body" not in experts:
        return {}
    out = experts["body"](crop_image(image, boxes["body"][None], experts["body"].crop_size))
    body = np.concatenate([rotmat_to_aa(out["global_orient"][0].numpy())[None],
                           rotmat_to_aa(out["body_pose"][0].numpy())])
    feats, hands, face = {"body": out["feature"][0].numpy()}, {}, None
    if "hand" in experts:
        for side in ("left", "right"):
            box = boxes[f"{side}_hand"]
            if box is None:
                continue
            h = experts["hand"](crop_image(image, box[None], experts["hand"].crop_size, [side == "left"]))
            fingers = mirror_rotmats(h["hand_pose"][0]) if side == "left" else h["hand_pose"][0]
            hands[side], feats[f"{side}_hand"] = rotmat_to_aa(fingers.numpy()), h["feature"][0].numpy()
    if "face" in experts and boxes["face"] is not None:
        f = experts["face"](crop_image(image, boxes["face"][None], experts["face"].crop_size))
        face = (rotmat_to_aa(f["jaw_pose"][0].numpy()), f["expression"][0].numpy())
        feats["face"] = f["feature"][0].numpy()
    return furpe_label_dict(body, hands, face, feats, hand_mean, out["betas"][0].numpy(), boxes["body"])


def gt_label(rec, noise: float, rng: np.random.Generator, hand_mean: dict, parts: Sequence[str]) -> dict:
    """One person's label dict from its GT SMPL-X parameters, written as the experts' outputs
    (``expert_outputs_from_smplx``: SPIN's axis-angle pose, FrankMocap's 48 values with absolute fingers, DECA's
    pose / exp) and converted back with the readers' functions (identity without noise)."""
    from data.pseudo_labels.experts import (
        body_from_smpl,
        expert_outputs_from_smplx,
        face_from_deca,
        hand_from_frankmocap,
    )
    from data.pseudo_labels.furpe_writer import furpe_label_dict

    pose = np.asarray(rec.smplx_pose, np.float32).reshape(55, 3)
    expression = np.asarray(rec.smplx_expression, np.float32).reshape(10)
    if noise > 0:
        pose = (pose + rng.normal(0.0, noise, pose.shape)).astype(np.float32)
        expression = (expression + rng.normal(0.0, noise, 10)).astype(np.float32)
    outs = expert_outputs_from_smplx(pose, expression, None)
    smpl_aa = np.concatenate([pose[:22], np.zeros((2, 3), np.float32)])  # SPIN eval.py's axis-angle 'pose'
    hands = {side: hand_from_frankmocap(outs["frankmocap"][side], None)[0] for side in ("left", "right")
             if "hand" in parts and getattr(rec, f"{side}_hand_valid")}
    face = face_from_deca(outs["deca"]["pose"], outs["deca"]["exp"]) if "face" in parts and rec.face_valid else None
    return furpe_label_dict(body_from_smpl(smpl_aa), hands, face, None, hand_mean, rec.smplx_betas)


def chosen_people(records: Sequence, people: str) -> list[tuple[int, str]]:
    """(record index, label file stem) of the people to label: every record (``label_stem``) or the largest person
    of each image (its image stem), in image order."""
    from collections import Counter

    from data.pseudo_labels.dataset import label_stem
    from data.pseudo_labels.expert_crops import largest_person

    if people == "largest":
        return [(i, Path(image).stem) for image, i in sorted(largest_person(records).items())]
    count = Counter(r.image_path for r in records)
    return sorted(((i, label_stem(r, count[r.image_path])) for i, r in enumerate(records)),
                  key=lambda item: (records[item[0]].image_path, records[item[0]].person_id))


def label_split(cfg, experts_arg: str, out: Path, split: str = "train", parts: Sequence[str] = PARTS_CHOICES,
                keypoint_noise: float = 0.0, label_noise: float = 0.0, limit: int = 0, seed: int = 0,
                people_mode: str = "all") -> dict:
    """Label ``split`` (module docstring) -> the manifest dict (also written); ``limit`` counts labelled people."""
    from data.image_io import load_image
    from data.pseudo_labels.expert_crops import part_point_ids
    from data.pseudo_labels.experts import hand_means_from_layer
    from data.pseudo_labels.furpe_writer import write_furpe_label, write_openpose137
    from data.synthetic_wholebody.dataset import build_world, load_synthetic_wholebody_records

    experts = None if experts_arg == "gt" else load_experts(experts_arg, parts)
    records = load_synthetic_wholebody_records(split, cfg)
    layer = build_world(cfg)[0]
    hand_mean, ids = hand_means_from_layer(layer), part_point_ids(layer.keypoints_valid.cpu().numpy())
    name = "synthetic_wholebody" if split == "train" else f"synthetic_wholebody_{split}"
    chosen = chosen_people(records, people_mode)[: limit or None]
    rng, people = np.random.default_rng(seed), []
    for i, stem in chosen:
        rec = records[i]
        image_path = rec.image_path
        det = detections(rec, keypoint_noise, rng)
        if experts is None:
            label = gt_label(rec, label_noise, rng, hand_mean, parts)
        else:
            label = expert_label(load_image(image_path), det, experts, ids, cfg, hand_mean)
        if not label:
            continue
        write_furpe_label(out / "params3d_v" / name / f"{stem}.npy", label)
        write_openpose137(out / "keypoints" / name / f"{stem}_keypoints.json", det)
        people.append({"image": image_path, "stem": stem, "image_id": rec.image_id, "person_id": rec.person_id,
                       "parts": {"left_hand": "left_hand_pose" in label, "right_hand": "right_hand_pose" in label,
                                 "face": "jaw_pose" in label}})
    manifest = {"dataset": "synthetic_wholebody", "split": split, "name": name, "experts": experts_arg,
                "parts": list(parts), "people_mode": people_mode, "keypoint_noise": keypoint_noise,
                "label_noise": label_noise, "seed": seed,
                "hand_storage": "relative to the model file's hands_mean (hand_means_from_layer of the config's "
                                "WholeBodyLayer)", "chosen": len(chosen), "labelled": len(people), "people": people}
    path = out / "manifest" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=1))
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cfg", required=True)
    parser.add_argument("--experts", required=True, help="folder with body.pth / hand.pth / face.pth, or 'gt'")
    parser.add_argument("--out", required=True)
    parser.add_argument("--split", default="train", choices=["train", "test"])
    parser.add_argument("--parts", nargs="+", default=list(PARTS_CHOICES), choices=PARTS_CHOICES)
    parser.add_argument("--keypoint-noise", type=float, default=0.0, help="px, on the detections")
    parser.add_argument("--label-noise", type=float, default=0.0, help="--experts gt: std on every parameter")
    parser.add_argument("--limit", type=int, default=0, help="label only the first N people (0 = all)")
    parser.add_argument("--people", default="all", choices=["all", "largest"],
                        help="every person (the pseudo_labels dataset's naming) or the largest per image (FuRPE's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--opts", nargs="*", default=[])
    args = parser.parse_args(argv)
    from common.cli import cli_session

    with cli_session() as status:
        status.code = run(args) or 0
    return status.code


def run(args) -> None:
    from common.config import load_config
    from common.errors import UserError, ensure_output_dir

    if "body" not in args.parts:
        raise UserError("--parts: 'body' is required (FuRPE's label file always has the body)")
    if args.keypoint_noise < 0 or args.label_noise < 0 or args.limit < 0:
        raise UserError("--keypoint-noise, --label-noise and --limit must be >= 0")
    cfg = load_config(args.cfg, args.opts)
    if cfg.model.family != "wholebody":
        raise UserError(f"{args.cfg}: model.family must be 'wholebody' to label the whole-body world")
    torch.set_num_threads(max(cfg.experiment.num_threads, 1))
    manifest = label_split(cfg, args.experts, ensure_output_dir(args.out), args.split, args.parts,
                           args.keypoint_noise, args.label_noise, args.limit, args.seed, args.people)
    print(f"labelled {manifest['labelled']} of {manifest['chosen']} people -> {args.out} ({manifest['name']})")


if __name__ == "__main__":
    sys.exit(main())
