"""FuRPE training modules that need no whole-body network: expert-feature distillation, learned loss weights,
the EMA teacher and the two-view consistency (docs/furpe.md). Import the submodules directly."""
