"""PyInstaller runtime hook of the CPU-only build: hide any GPU from torch.

The CPU-only build leaves out the CUDA libraries that only GPU work opens (cuDNN's engines,
cuSOLVER, ...). On a machine with an NVIDIA GPU, torch would still see the GPU and fail on the
first convolution there; with no visible device it takes the CPU path everywhere.
"""

import os

os.environ["CUDA_VISIBLE_DEVICES"] = ""
os.environ.setdefault("CNNDESK_BUILD_VARIANT", "cpu")
