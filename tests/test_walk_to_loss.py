"""tool/walk_to_loss.py: the call-cycle finder behind the "walk from YAML to loss" figures in docs/DESIGN.md."""
from __future__ import annotations

from tool.walk_to_loss import Walk, call_cycles


def test_call_cycles_finds_files_calling_each_other_and_nothing_in_a_chain():
    chain = {"main/train.py": {"common/engine/trainer.py"}, "common/engine/trainer.py": {"common/models/losses.py"}}
    assert call_cycles(chain) == []
    back = {**chain, "common/models/losses.py": {"main/train.py"},
            "data/a.py": {"data/b.py"}, "data/b.py": {"data/a.py"}}
    assert call_cycles(back) == [["common/engine/trainer.py", "common/models/losses.py", "main/train.py"],
                                 ["data/a.py", "data/b.py"]]


def test_walk_counts_project_files_only_and_not_itself():
    walk = Walk()
    assert walk.project_file(__file__) is None  # tests/ is not a project package
    assert walk.project_file("/usr/lib/python3/os.py") is None
    from common.models import losses

    assert walk.project_file(losses.__file__) == "common/models/losses.py"
    from tool import walk_to_loss

    assert walk.project_file(walk_to_loss.__file__) is None  # the measuring hook is not on the walk
