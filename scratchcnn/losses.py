"""Loss functions, each returning (loss, dL/dlogits).

Softmax cross-entropy with the log-sum-exp trick: subtracting the row maximum changes nothing
mathematically (softmax is shift-invariant) but keeps exp() from overflowing for large logits.
"""

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log p[n, k] = z[n, k] - max_k z - log sum_k exp(z[n, k] - max_k z). Shapes: (N, K) -> (N, K)"""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """p[n, k] = exp(z[n, k]) / sum_j exp(z[n, j]), computed stably. Shapes: (N, K) -> (N, K)"""
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return p


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean negative log-likelihood of the true classes, and its gradient.

    L = -1/N sum_n log p[n, y_n];  dL/dz[n, k] = (p[n, k] - [k == y_n]) / N
    Shapes: logits (N, K) float, labels (N,) integer class indices in [0, K) -> float, (N, K)
    """
    if not isinstance(logits, np.ndarray) or logits.ndim != 2 or logits.shape[0] == 0:
        got = logits.shape if isinstance(logits, np.ndarray) else type(logits).__name__
        raise ValueError(f"logits must have shape (N, K) with N >= 1, got {got}")
    if logits.dtype not in (np.float32, np.float64):
        raise ValueError(f"logits must be float32 or float64, got {logits.dtype}")
    N, K = logits.shape
    labels = np.asarray(labels)
    if labels.shape != (N,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers of shape ({N},), got {labels.dtype} {labels.shape}")
    if labels.min() < 0 or labels.max() >= K:
        raise ValueError(f"labels must lie in [0, {K}), got values in [{labels.min()}, {labels.max()}]")
    logp = log_softmax(logits)
    rows = np.arange(N)
    loss = -float(logp[rows, labels].mean())
    dlogits = np.exp(logp)
    dlogits[rows, labels] -= 1
    dlogits *= logits.dtype.type(1.0 / N)
    return loss, dlogits


def uniform_cross_entropy(logits: np.ndarray) -> tuple[float, np.ndarray]:
    """Cross-entropy from the uniform answer: the outlier-exposure loss (Hendrycks et al. 2019).

    An outlier should get p_k = 1/K for every class, so its target is the uniform distribution:
    L = -1/N sum_n 1/K sum_k log p[n, k] = 1/N sum_n (logsumexp(z[n]) - mean_k z[n, k]);
    dL/dz[n, k] = (p[n, k] - 1/K) / N. Minimal (log K) exactly when every logit is equal.
    Shapes: logits (N, K) float -> float, (N, K)
    """
    if not isinstance(logits, np.ndarray) or logits.ndim != 2 or logits.shape[0] == 0:
        got = logits.shape if isinstance(logits, np.ndarray) else type(logits).__name__
        raise ValueError(f"logits must have shape (N, K) with N >= 1, got {got}")
    N, K = logits.shape
    logp = log_softmax(logits)
    loss = -float(logp.mean())
    dlogits = np.exp(logp)
    dlogits -= logits.dtype.type(1.0 / K)
    dlogits *= logits.dtype.type(1.0 / N)
    return loss, dlogits
