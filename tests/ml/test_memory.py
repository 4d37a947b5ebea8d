"""While a model trains, freed activation memory stays in the process (no page faults per batch);
when training ends the allocator is as before and the kept memory goes back to the system."""

from __future__ import annotations

import os
import resource

import pytest
import torch

from cnndesk.ml import memory
from cnndesk.ml.memory import training_memory

pytestmark = pytest.mark.skipif(
    not memory.keeps_freed_memory(),
    reason="allocator tuning is for glibc on Linux; other allocators keep freed memory already",
)


@pytest.fixture(scope="module")
def step():
    """One training step whose activations (8×16×256×256 floats, 32 MiB) pass glibc's mmap limit."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(16, 16, 3, padding=1)
    )
    x = torch.randn(8, 3, 256, 256)

    def run() -> None:
        model(x).square().mean().backward()

    return run


def page_faults(step, steps: int = 4) -> int:
    """Minor page faults (fresh pages from the kernel) during ``steps`` training steps."""
    start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(steps):
        step()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start


def typical_faults(step, samples: int = 5) -> int:
    """Page faults of a typical training step: the median of ``samples`` single steps.

    The count is for the whole process, so a thread elsewhere in the test session, or a one-off
    growth of the heap, can add pages to one step; the median of five steps does not see that,
    while a step that maps its activations afresh faults every time.
    """
    return sorted(page_faults(step, 1) for _ in range(samples))[samples // 2]


def resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_training_steps_reuse_freed_memory_and_give_it_back_after(step) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        outside = typical_faults(step)
        assert outside > 25_000  # every step maps its activations afresh
        with training_memory():
            page_faults(step, 5)  # the first steps bring the pages in (the heap grows in steps)
            inside = typical_faults(step)
            assert inside < outside // 10, (inside, outside)
            with training_memory():  # re-entrant: an inner block changes nothing
                assert typical_faults(step) < outside // 10
            assert typical_faults(step) < outside // 10  # still kept after the inner block
            kept = resident_bytes()
        given_back = resident_bytes()
        assert kept - given_back >= 32 << 20  # malloc_trim returned the kept memory
        # and large blocks go back to the system again (no longer kept)
        assert typical_faults(step) > outside // 20
    finally:
        torch.set_num_threads(threads)


def test_an_exception_still_restores_the_allocator(step) -> None:
    outside = typical_faults(step)
    with pytest.raises(RuntimeError, match="stop"), training_memory():
        page_faults(step, 3)
        raise RuntimeError("stop")
    assert typical_faults(step) > outside // 20
