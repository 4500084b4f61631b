"""Network building blocks of the 3DCrowdNet-style regressor (official module names)."""
from common.nets.backbone import ResNetBackbone
from common.nets.pose2feat import Pose2Feat
from common.nets.position_net import PositionNet
from common.nets.rotation_net import RotationNet
from common.nets.vposer import VPoserDecoder

__all__ = ["Pose2Feat", "PositionNet", "ResNetBackbone", "RotationNet", "VPoserDecoder"]
