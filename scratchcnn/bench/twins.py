"""The two implementations the bench times, behind one small interface: train_step(x, y) and
predict(x). PyTorch is optional (never a dependency); its network starts from our weights."""

from ..losses import softmax_cross_entropy
from ..optim import SGD
from ..parallel import DataParallel
from ..zoo import build_model

MODEL = "convnet"
TORCH_THREADS = 2


class Ours:
    name = "scratchcnn"

    def __init__(self, seed: int = 0):
        self.model = build_model(MODEL, seed=seed)
        self.net = DataParallel(self.model)  # as train.fit runs it
        self.opt = SGD(self.model, lr=0.01, momentum=0.9)

    def train_step(self, x, y):
        loss, dlogits = softmax_cross_entropy(self.net.forward(x, training=True), y)
        self.net.backward(dlogits, input_grad=False)
        self.opt.step()

    def predict(self, x):
        # the public inference call: it runs big inputs in batches of 64 images, which keeps
        # each layer's arrays near the cache instead of streaming 100+ MB ones through RAM;
        # one image goes straight to the model
        return self.net.predict_proba(x)


class Torch:
    name = "pytorch"

    def __init__(self, ours: Ours):
        import torch

        self.torch = torch
        torch.set_num_threads(TORCH_THREADS)
        nn = torch.nn
        self.model = nn.Sequential(
            nn.Conv2d(1, 32, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(1600, 128),
            nn.ReLU(),
            nn.Linear(128, 10),
        )
        with torch.no_grad():  # same starting weights as ours (Dense W is (D, M), Linear's (M, D))
            for i, layer in enumerate(self.model):
                if hasattr(layer, "weight"):
                    W = ours.model.layers[i].params["W"]
                    layer.weight.copy_(torch.from_numpy(W if W.ndim == 4 else W.T.copy()))
                    layer.bias.copy_(torch.from_numpy(ours.model.layers[i].params["b"]))
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)

    def train_step(self, x, y):
        torch = self.torch
        self.opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(self.model(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        self.opt.step()

    def predict(self, x):
        with self.torch.inference_mode():
            return self.torch.softmax(self.model(self.torch.from_numpy(x)), dim=1).numpy()


def load_torch(ours):
    try:
        import torch  # noqa: F401
    except ImportError:
        return None, "not installed (optional: pip install torch==2.13.0)"
    return Torch(ours), f"torch {torch.__version__}, {TORCH_THREADS} threads"
