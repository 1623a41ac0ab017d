"""scratchcnn: a convolutional neural network written by hand in NumPy and Numba.

Every op has a plain-loop reference (reference.py) and a fast version with the same signature
(fast.py: im2col + BLAS + the Numba kernels of kernels.py); backward passes are hand-written and
checked against central differences (gradcheck.py). model.py is the plain network;
parallel.py runs it on both cores (DataParallel). Importing the package changes no process
setting.
"""

__version__ = "0.1.0"

from . import gradcheck, losses, optim
from .layers import (BatchNorm1D, BatchNorm2D, Conv2D, Dense, Dropout, Flatten, Layer, MaxPool2D,
                     Normalize, ReLU)
from .losses import softmax_cross_entropy
from .model import Sequential, load_model
from .optim import SGD, Adam
from .parallel import DataParallel
from .zoo import build_model

__all__ = [
    "Adam", "BatchNorm1D", "BatchNorm2D", "Conv2D", "DataParallel", "Dense", "Dropout", "Flatten",
    "Layer", "MaxPool2D", "Normalize", "ReLU", "SGD", "Sequential", "build_model", "gradcheck",
    "load_model", "losses", "optim",
    "softmax_cross_entropy", "__version__",
]
