"""3DCrowdNet-style demo: an image + its people's 2D poses (COCO-17) -> one SMPL mesh per person.

    python demo/demo.py --img_idx 0 [--ckpt PATH] [--cfg FILE] [--opts k=v ...] [--input DIR] [--output DIR]

Input (``--input``, default ``demo/input/``): ``images/*.{jpg,jpeg,png}`` (sorted; ``--img_idx`` picks one) and
``2d_pose_result.json`` = ``{image_name: [[17 x [x, y, score]] per person]}`` (3DCrowdNet's demo format). Each
person becomes a PersonRecord that goes through the shared mapper in test mode (``data/demo_inputs.py``); the samples
go through the model as one batch.

Outputs (``--output``, default ``demo/output/``), for image ``<stem>``: ``<stem>_pose2d.png`` (input poses),
``<stem>_person<k>_mesh.png`` (one mesh over the full image), ``<stem>_all_meshes.png`` (every mesh, z-buffered
together), ``<stem>_person<k>.obj`` and ``<stem>_results.json`` (boxes, cameras, skipped people); the cameras
back to the full image are explained in ``common/render/demo_outputs.py``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from common.cli import cli_session
from common.config import ConfigError, ExperimentPlan, config_from_dict, load_config
from common.errors import UserError, ensure_output_dir, writing
from common.render.demo_outputs import draw_inputs, save_png, write_meshes
from data.demo_inputs import POSE_JSON, PersonInput, load_inputs, person_input, person_record

DEMO_DIR = Path(__file__).resolve().parent


def demo_config(cfg_file: str | None, ckpt: str | None, opts: Sequence[str]):
    """--cfg, else the config saved in our checkpoint (--ckpt), else the defaults; then --opts.
    Returns (config, where it came from)."""
    if cfg_file or not ckpt:
        return load_config(cfg_file, opts), cfg_file or "defaults"
    from common.engine.checkpoint import CheckpointError, read_checkpoint

    try:
        saved = read_checkpoint(ckpt).get("config")
    except CheckpointError:  # an official file (or a broken one: loading the weights reports it)
        saved = None
    if not saved:
        return load_config(None, opts), "defaults"
    try:
        config_from_dict(saved, source="saved config")
    except ConfigError as err:  # e.g. a key renamed since the checkpoint was written
        raise UserError(f"{ckpt}: {err} (pass --cfg to use another config)") from None
    return config_from_dict(saved, opts, source="saved config"), f"the config saved in {ckpt}"


def load_model(cfg, ckpt: str | None, device):
    """The network of the experiment plan (the same builder as main/test.py) on ``device`` in eval mode, with
    ``ckpt`` (ours or official) loaded. Edge channels (Canny / RCF) are computed by the model from the crop;
    the SMPL edge sources need GT bodies of every person, which a demo image does not have."""
    from common.body_models import family_body_model
    from common.engine import load_model_weights
    from common.models.build import build_experiment_model

    model = build_experiment_model(cfg, family_body_model(cfg), training=False)
    if ckpt:
        meta = load_model_weights(ckpt, model)
        print(f"loaded {ckpt} (epoch {meta.get('epoch', '?')})")
    else:
        print("WARNING: no --ckpt given: running an UNTRAINED model; the meshes are meaningless "
              "(pass one of our checkpoints or an official 3DCrowdNet/SEFD .pth.tar)", file=sys.stderr)
    return model.to(device).eval()


def check_plan(cfg) -> None:
    """UserError when the experiment's test-time input needs GT bodies (SMPL edge maps)."""
    if ExperimentPlan.from_config(cfg).needs_gt_bodies(train=False):
        raise UserError(f"sefd.mode={cfg.sefd.mode} with edge {cfg.sefd.edge_source!r}/{cfg.sefd.teacher_edge!r}: "
                        "the demo has no GT bodies to render SMPL edges from; use a canny or rcf edge source")


def predict(model, persons: list[PersonInput], device) -> dict:
    """One batch of all people's samples through the model -> predictions on the CPU."""
    import torch
    from torch.utils.data import default_collate

    batch = default_collate([p.sample for p in persons])
    with torch.no_grad():
        preds = model({k: v.to(device) for k, v in batch.items()})
    return {k: v.detach().cpu() for k, v in preds.items() if hasattr(v, "detach")}


def run_demo(args: argparse.Namespace) -> list[Path]:
    """Validate the inputs, run the model on every person of image ``args.img_idx``, write the outputs."""
    image_path, image, people, json_path = load_inputs(Path(args.input), args.img_idx, args.pose_json)
    if args.ckpt and not Path(args.ckpt).is_file():
        raise UserError(f"{args.ckpt}: checkpoint not found (--ckpt)")
    cfg, cfg_source = demo_config(args.cfg, args.ckpt, args.opts)
    if people:
        check_plan(cfg)  # before the mapper, which would need GT bodies for SMPL edge maps
    from data.mapper import Mapper  # torch and the pipeline load once the arguments are known to be good

    mapper = Mapper.from_config(cfg, train=False)
    persons = []
    for k, kpts in enumerate(people):
        person = person_input(mapper, person_record(image_path, image.shape[:2], kpts, k, args.pose_thr), k)
        if isinstance(person, str):
            print(f"skipping person {k} of {image_path.name}: {person}")
        else:
            persons.append(person)
    out_dir, stem = Path(args.output), image_path.stem
    ensure_output_dir(out_dir, "output folder (--output)")
    written = [out_dir / f"{stem}_pose2d.png"]
    save_png(written[0], draw_inputs(image, people, persons, args.pose_thr))
    print(f"{image_path}: {len(people)} people in {json_path.name}, {len(persons)} to reconstruct; "
          f"config: {cfg_source}")
    results = {"image": str(image_path), "people": [],
               "skipped": sorted(set(range(len(people))) - {p.index for p in persons})}
    if persons:
        import torch

        from common.engine import resolve_device
        from common.render.wholebody_visualize import RENDER_FOCAL, draw_image_keypoints, to_crop_camera

        device = resolve_device(cfg.experiment.device)
        model = load_model(cfg, args.ckpt, device)
        regressor = getattr(model, "student", model)  # SEFD wrappers hold the regressor as .student
        preds = predict(model, persons, device)
        focal = getattr(regressor, "focal", None)
        if focal is None:  # the whole-body model: weak perspective -> its pinhole equivalent; keypoints drawn too
            written.append(out_dir / f"{stem}_keypoints.png")
            save_png(written[-1], draw_image_keypoints(image, preds["keypoints2d"],
                                                       torch.stack([torch.as_tensor(p.crop_to_img) for p in persons]),
                                                       regressor.layer.keypoints_valid.cpu()))
            preds, focal = to_crop_camera(preds, cfg.data.input_size), RENDER_FOCAL
        files, results["people"] = write_meshes(out_dir, stem, image, persons, preds,
                                                regressor.faces.cpu().numpy(), focal, cfg.data.input_size)
        written += files
    else:
        print(f"warning: no person of {image_path.name} could be reconstructed", file=sys.stderr)
    written.append(out_dir / f"{stem}_results.json")
    with writing(written[-1], "results"):
        written[-1].write_text(json.dumps(results, indent=1))
    print(f"wrote {len(written)} files to {out_dir}")
    return written


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Mesh recovery demo on an image with given 2D poses.")
    parser.add_argument("--img_idx", type=int, required=True, help="index of the image (sorted file names)")
    parser.add_argument("--cfg", default=None, help="experiment YAML (default: the checkpoint's config, or defaults)")
    parser.add_argument("--ckpt", default=None, help="our checkpoint or an official 3DCrowdNet/SEFD .pth.tar")
    parser.add_argument("--opts", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides")
    parser.add_argument("--input", default=str(DEMO_DIR / "input"), help="folder with images/ + JSON")
    parser.add_argument("--pose_json", default=None, help=f"2D pose file (default: <input>/{POSE_JSON})")
    parser.add_argument("--output", default=str(DEMO_DIR / "output"), help="output folder")
    parser.add_argument("--pose_thr", type=float, default=0.1, help="keypoint score threshold (3DCrowdNet: 0.1)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with cli_session(log_level=None) as status:
        run_demo(args)
    return status.code


if __name__ == "__main__":
    sys.exit(main())
