"""A GPU run that can't start says what to install (requirements-gpu.txt) before offering the CPU."""

import importlib.util
from pathlib import Path

import pytest
import torch
from packaging.requirements import Requirement

from multinerd.training import gpu
from multinerd.training.gpu import INSTALL_GPU, GPUUnavailable, gpu_problem, require_gpu


def test_a_cpu_build_of_torch_is_told_to_install_the_cuda_build(monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(GPUUnavailable) as caught:
        require_gpu(0)
    message = str(caught.value)
    assert "CPU build" in message and INSTALL_GPU in message
    assert message.index(INSTALL_GPU) < message.index("--gpu-id -1") and "\n" not in message


def test_missing_cupy_is_told_to_install_it(monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(gpu.importlib.util, "find_spec", lambda name: None if name == "cupy" else find_spec(name))
    problem = gpu_problem(0)
    assert problem.startswith("cupy is not installed") and INSTALL_GPU in problem


def test_the_gpu_requirements_name_torch_with_cuda_and_cupy():
    lines = (Path(__file__).resolve().parents[1] / "requirements-gpu.txt").read_text().splitlines()
    requirements = {
        Requirement(line).name: Requirement(line) for line in lines if line and not line.startswith(("#", "-"))
    }
    assert "+cu" in str(requirements["torch"].specifier)
    assert requirements["spacy"].extras == {"cuda12x"}
