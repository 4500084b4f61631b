"""The ablation runner: parallel jobs by phase, the recipe merge, and the references in the report."""
from __future__ import annotations

import sys

from tool.parallel_jobs import run_jobs
from tool.sefd_ablation import job_argv, parse_args, run_config
from tool.sefd_ablation_report import references_table


def test_jobs_run_phase_after_phase_and_report_return_codes(tmp_path):
    marker = tmp_path / "first_done"
    first = [("a", [sys.executable, "-c", f"import time; time.sleep(0.3); open({str(marker)!r}, 'w').close()"]),
             ("b", [sys.executable, "-c", "import sys; sys.exit(3)"])]
    # the second phase fails unless the first phase's file exists when it starts
    second = [("c", [sys.executable, "-c", f"import os, sys; sys.exit(0 if os.path.exists({str(marker)!r}) else 5)"])]
    done = []
    codes = run_jobs([first, second], parallel=2, log_dir=tmp_path / "logs", poll_s=0.05,
                     on_done=lambda name, code: done.append((name, code)))
    assert codes == {"a": 0, "b": 3, "c": 0}
    assert sorted(done[:2]) == [("a", 0), ("b", 3)] and done[2] == ("c", 0)  # as each ends, phase by phase
    assert (tmp_path / "logs" / "c.log").is_file()


def test_a_job_runs_one_training_without_the_parallel_option():
    argv = ["--recipe", "configs/learning_curve.yaml", "--parallel", "6", "--seeds", "0", "1"]
    job = job_argv("student", 1, argv)
    assert "--parallel" not in job and "6" not in job
    assert job[-3:] == ["--one", "student", "1"] and job[job.index("--recipe") + 1] == "configs/learning_curve.yaml"


def test_recipe_gives_the_budget_and_the_method_gives_the_sefd_section(tmp_path):
    args = parse_args(["--recipe", "configs/learning_curve.yaml", "--out", str(tmp_path)])
    cfg = run_config("student", 2, args)
    assert cfg.sefd.mode == "student" and cfg.model.input_channels == 4  # RGB + Canny, from the method
    assert cfg.data.input_size == 64 and cfg.train.lr_schedule == "cosine"  # from the recipe
    assert cfg.experiment.seed == 2 and cfg.sefd.teacher_ckpt.endswith("teacher_seed2")
    plain = run_config("baseline", 0, parse_args(["--out", str(tmp_path)]))
    assert plain.data.input_size == 96 and plain.train.epochs == 3 and plain.model.input_channels == 3


def test_rgb_teacher_control_distils_from_its_seeds_baseline_after_it(tmp_path, monkeypatch):
    import tool.parallel_jobs
    from tool import sefd_ablation

    args = parse_args(["--recipe", "configs/learning_curve.yaml", "--out", str(tmp_path), "--seeds", "1",
                       "--methods", "baseline", "teacher", "student", "student_rgb"])
    cfg = run_config("student_rgb", 1, args)
    assert (cfg.sefd.mode, cfg.sefd.teacher_edge) == ("student", "none")
    assert cfg.sefd.teacher_ckpt.endswith("baseline_seed1")
    seen = []
    monkeypatch.setattr(tool.parallel_jobs, "run_jobs", lambda phases, *a, **k: seen.extend(phases) or {})
    sefd_ablation.run_parallel(args, [], [])
    assert [[name for name, _ in phase] for phase in seen] == [["baseline_seed1", "teacher_seed1"],
                                                                ["student_seed1", "student_rgb_seed1"]]


def test_references_table_reads_the_rows_references():
    rows = [{"subset": s, "references": {"mean_pose/mpjpe": 300.0, "mean_pose/pa_mpjpe": 110.0,
                                         "mean_pose/mpvpe": 370.0, "mean_pose_gt_root/mpjpe": 140.0}}
            for s in ("all", "high_occlusion")]
    table = references_table(rows)
    assert "| reference: mean training pose, zero betas | - | 300.0 | 110.0 | 370.0 | 300.0 |" in table
    assert "oracle" in table and "140.0 | - | -" in table


def test_mean_std_cells():
    from tool.ablation_results import mean_std

    assert mean_std([]) == "-" and mean_std([None, 2.0]) == "2.0" and mean_std([1.0, 3.0], 2) == "2.00 ± 1.41"


def test_significance_sentences_name_the_reference_and_need_a_consistent_sign():
    from tool.sefd_ablation_report import clear_differences, edge_teacher_sentence

    def rows(method, values):
        return [{"method": method, "seed": s, "subset": sub, "mpjpe": v, "pa_mpjpe": 100.0, "mpvpe": 100.0}
                for s, v in enumerate(values) for sub in ("all", "high_occlusion")]

    table = rows("student_rgb", [140.0, 150.0, 145.0]) + rows("student", [130.0, 141.0, 134.0])  # -10, -9, -11
    args = parse_args(["--methods", "student", "student_rgb"])
    sentence = edge_teacher_sentence(table, args)[-1]
    assert "student better than student_rgb on mpjpe (all, -10.0 mm)" in sentence and "pa_mpjpe" not in sentence
    noisy = rows("student_rgb", [140.0, 150.0, 145.0]) + rows("student", [150.0, 141.0, 134.0])  # +10, -9, -11
    assert clear_differences(noisy, ["student"], reference="student_rgb").startswith("No paired difference")
    assert edge_teacher_sentence(table, parse_args(["--methods", "baseline", "student"])) == []
