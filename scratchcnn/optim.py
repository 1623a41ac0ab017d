"""Optimisers: update a model's parameter arrays in place from the gradients backward left.

SGD with momentum follows PyTorch's formulation (v = mu*v + g; p -= lr*v, or with Nesterov
p -= lr*(g + mu*v)); Adam follows Kingma & Ba (2015) with bias correction. weight_decay adds
wd * p to the gradient (L2 regularisation), as torch.optim does.
"""

import numpy as np


class Optimizer:
    """Holds the model and a per-parameter state; subclasses define `_update`."""

    def __init__(self, model, lr: float, weight_decay: float):
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr!r}")
        if not weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
        self.model, self.lr, self.weight_decay = model, float(lr), float(weight_decay)
        self.state: dict[str, np.ndarray] = {}
        self.steps = 0

    def zero_grad(self) -> None:
        """Set every gradient to zero (backward overwrites them anyway; kept for familiarity)."""
        for _, _, grad in self.model.trainable_parameters():
            grad[...] = 0

    def step(self) -> None:
        self.steps += 1
        for name, param, grad in self.model.trainable_parameters():  # all but fixed layers'
            if self.weight_decay:
                grad = grad + param.dtype.type(self.weight_decay) * param
            self._update(name, param, grad)

    def _buffer(self, key: str, like: np.ndarray) -> np.ndarray:
        if key not in self.state:
            self.state[key] = np.zeros_like(like)
        return self.state[key]

    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything needed to resume: buffers plus the step count (lr is set by the schedule)."""
        return {"steps": np.array(self.steps), **{k: v.copy() for k, v in self.state.items()}}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore state_dict()'s output; ValueError unless every buffer is "<kind>.<parameter>"
        with that parameter's shape and dtype, and "steps" a count."""
        steps = state.get("steps")
        if not isinstance(steps, np.ndarray) or steps.shape != () or steps.dtype.kind not in "iu":
            raise ValueError(f"optimizer state needs an integer 'steps', got {steps!r}")
        params = {name: p for name, p, _ in self.model.parameters()}
        for key, value in state.items():
            p = params.get(key.partition(".")[2])
            if key != "steps" and (p is None or value.shape != p.shape or value.dtype != p.dtype):
                want = "no such parameter" if p is None else f"{p.dtype} {p.shape}"
                raise ValueError(f"optimizer buffer {key} is {value.dtype} {value.shape}, "
                                 f"expected {want}")
        self.steps = int(steps)
        self.state = {k: np.array(v) for k, v in state.items() if k != "steps"}


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum."""

    def __init__(self, model, lr: float, momentum: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False):
        super().__init__(model, lr, weight_decay)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        if nesterov and momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def _update(self, name, param, grad):
        lr = param.dtype.type(self.lr)
        if self.momentum == 0:
            param -= lr * grad
            return
        mu = param.dtype.type(self.momentum)
        v = self._buffer("v." + name, param)
        v *= mu
        v += grad
        param -= lr * (grad + mu * v) if self.nesterov else lr * v


class Adam(Optimizer):
    """m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2; p -= lr * m_hat / (sqrt(v_hat) + eps)."""

    def __init__(self, model, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(model, lr, weight_decay)
        b1, b2 = betas
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"betas must each be in [0, 1), got {betas!r}")
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps!r}")
        self.betas, self.eps = (float(b1), float(b2)), float(eps)

    def _update(self, name, param, grad):
        t = param.dtype.type
        b1, b2 = self.betas
        m = self._buffer("m." + name, param)
        v = self._buffer("v." + name, param)
        m *= t(b1)
        m += t(1 - b1) * grad
        v *= t(b2)
        v += t(1 - b2) * grad * grad
        m_hat_scale = t(self.lr / (1 - b1**self.steps))  # lr folded into the bias correction
        v_hat_scale = t(1 / (1 - b2**self.steps))
        param -= m_hat_scale * m / (np.sqrt(v * v_hat_scale) + t(self.eps))
