"""Install the framework's packages (common, data, tool, main, demo) in editable mode: pip install -e .[test]"""
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent
requirements = [
    line.split("#")[0].strip()
    for line in (ROOT / "requirements.txt").read_text().splitlines()
    if line.split("#")[0].strip()
]

setup(
    name="crowdmesh",
    version="0.1.0",
    description="Config-driven 3D human mesh recovery: 3DCrowdNet/SEFD edge distillation and FuRPE whole-body",
    python_requires=">=3.10",
    packages=find_packages(include=["common*", "data*", "tool*", "main*", "demo*"]),
    install_requires=requirements,
    extras_require={"test": ["pytest>=7.4", "ruff>=0.6"]},
)
