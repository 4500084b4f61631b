"""FuRPE pseudo-labels: part-expert outputs and FuRPE's label files -> SMPL-X supervision (docs/furpe.md)."""
from data.pseudo_labels.expert_files import (
    pseudo_label_from_expert_files,
    read_deca_output,
    read_frankmocap_hand_output,
    read_spin_output,
)
from data.pseudo_labels.furpe_file import read_furpe_label
from data.pseudo_labels.label import PARTS, PseudoLabel, PseudoLabelError
from data.pseudo_labels.loader import load_pseudo_label_records, load_pseudo_labels, read_openpose137
from data.pseudo_labels.selection import label_keypoints3d, part_reprojection_errors, select_labels

__all__ = ["PARTS", "PseudoLabel", "PseudoLabelError", "label_keypoints3d", "load_pseudo_label_records",
           "load_pseudo_labels", "part_reprojection_errors", "pseudo_label_from_expert_files", "read_deca_output",
           "read_frankmocap_hand_output", "read_furpe_label", "read_openpose137", "read_spin_output",
           "select_labels"]
