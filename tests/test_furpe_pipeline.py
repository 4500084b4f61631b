"""FuRPE's whole pipeline through the commands a user runs, on the tiny whole-body world: train experts ->
label with them -> select -> train the student with every furpe piece on (configs/furpe_tiny_e2e.yaml)."""
import json
import math

from test_end_to_end import REPO, _run

CFG = str(REPO / "configs" / "furpe_tiny_e2e.yaml")


def test_train_experts_label_select_and_distil_through_the_commands(tmp_path):
    experts, labels, runs = tmp_path / "experts", tmp_path / "labels", tmp_path / "runs"
    _run("-m", "tool.train_experts", "--cfg", CFG, "--out", str(experts), "--iters", "3", timeout=600)
    assert sorted(p.name for p in experts.glob("*.pth")) == ["body.pth", "face.pth", "hand.pth"]
    _run("-m", "tool.label_with_experts", "--cfg", CFG, "--experts", str(experts), "--out", str(labels),
         "--keypoint-noise", "1", timeout=600)
    manifest = json.loads((labels / "manifest" / "synthetic_wholebody.json").read_text())
    assert manifest["labelled"] == manifest["chosen"] > 0 and manifest["people_mode"] == "all"
    proc = _run("main/train.py", "--cfg", CFG, "--opts", f"furpe.label_dir={labels}",
                f"experiment.output_dir={runs}", timeout=900)
    # every labelled person became a pseudo_labels record (none missing), through the selection
    assert f"'loaded': {manifest['labelled']}" in proc.stdout + proc.stderr
    assert "'missing_label'" not in proc.stdout + proc.stderr
    rows = [json.loads(line) for line in (runs / "furpe_tiny_e2e" / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["split"] == "train"]
    assert train and all(math.isfinite(r[k]) for r in train for k in ("distill_body", "distill_face", "total"))
