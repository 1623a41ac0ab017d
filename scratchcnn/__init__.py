"""scratchcnn: a convolutional neural network written by hand in NumPy and Numba.

Every layer has a plain-loop reference (reference.py) and a fast path (kernels.py + BLAS);
backward passes are hand-written and checked against central differences (gradcheck.py).
"""

__version__ = "0.1.0"

from . import gradcheck, losses, optim
from .layers import BatchNorm1D, BatchNorm2D, Conv2D, Dense, Dropout, Flatten, Layer, MaxPool2D, Normalize, ReLU
from .losses import softmax_cross_entropy
from .model import Sequential, load_model
from .optim import SGD, Adam
from .zoo import build_model

__all__ = [
    "Adam", "BatchNorm1D", "BatchNorm2D", "Conv2D", "Dense", "Dropout", "Flatten", "Layer", "MaxPool2D", "Normalize", "ReLU",
    "SGD", "Sequential", "build_model", "gradcheck", "load_model", "losses", "optim",
    "softmax_cross_entropy", "__version__",
]
