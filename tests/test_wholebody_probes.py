"""The whole-body measurement tools: FLOP count per submodule, SMPL-X call counter (tool/wholebody_step_profile.py)."""
import torch


def test_forward_flops_counts_each_top_level_submodule():
    from tool.wholebody_step_profile import forward_flops

    model = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.Linear(4, 2))
    total, per_module = forward_flops(lambda: model(torch.zeros(3, 8)))
    assert per_module == {"0": 2 * 3 * 8 * 4, "1": 2 * 3 * 4 * 2}
    assert total == sum(per_module.values())


def test_layer_calls_counts_forward_calls_and_restores_the_module():
    from tool.wholebody_step_profile import LayerCalls

    layer = torch.nn.Linear(2, 2)
    with LayerCalls(layer) as calls:
        layer(torch.zeros(1, 2))
        layer(torch.zeros(1, 2))
    assert calls.calls == 2
    assert "forward" not in vars(layer)  # the class's forward again
    layer(torch.zeros(1, 2))
    assert calls.calls == 2
