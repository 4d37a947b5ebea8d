"""Folding batch norms traces the model with torch.fx, which patches ``nn.Module.__call__`` for
the whole process while it runs: a model used in another thread at that moment (the prediction
pane's preload beside an export, a decode transform) must not be swept into the trace."""

from __future__ import annotations

import threading

import torch

from cnndesk.ml.predict import fold_batchnorm


class CallsAnotherModelMeanwhile(torch.nn.Module):
    """Conv → BN, and during its forward another thread runs an unrelated model."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, bias=False)
        self.bn = torch.nn.BatchNorm2d(4)
        self.elsewhere = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 1), torch.nn.ReLU())
        object.__setattr__(self, "other", torch.nn.Conv2d(3, 2, 1))  # not a submodule
        self.errors: list[BaseException] = []
        self.outputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        def run() -> None:
            try:
                self.outputs.append(self.other(torch.ones(1, 3, 4, 4)))
            except BaseException as exc:  # what the other thread would have died of
                self.errors.append(exc)

        worker = threading.Thread(target=run)
        worker.start()
        worker.join()
        return self.bn(self.conv(x))


def test_a_model_used_in_another_thread_during_folding_runs_normally() -> None:
    model = CallsAnotherModelMeanwhile().eval()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-1, 1)
        model.bn.running_var.uniform_(0.5, 2)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        before = model(x)
    model.errors.clear()
    model.outputs.clear()
    assert fold_batchnorm(model) == 1
    assert model.errors == []  # unpatched: "module is not installed as a submodule"
    assert len(model.outputs) == 1 and model.outputs[0].shape == (1, 2, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(model(x), before, atol=1e-5, rtol=1e-4)
