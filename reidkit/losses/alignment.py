"""Global image-text alignment losses for text-to-image person retrieval (book/methods.md §5).

A batch holds B image features and the B features of their captions, paired row by row, with
one identity label per pair. Several pairs of a batch may share an identity, so the target of
image i is not "caption i" but every caption of the same person: the *normalised identity-match
matrix*

    y_ij = [labels_i == labels_j],        q_ij = y_ij / sum_k y_ik          # (B, B), rows sum to 1

Both matching losses compare a softmax over the batch's captions (or images) with q:

* SDM (similarity distribution matching, IRRA, Jiang and Ye, CVPR 2023): the softmax of the
  *cosine* similarities divided by a temperature tau (0.02, IRRA's value);
* CMPM (cross-modal projection matching, Zhang and Lu, ECCV 2018): the softmax of the scalar
  projections of one modality's raw features onto the other's *unit* features.

Each is a KL divergence summed over both directions, image->text and text->image. The ID loss
classifies both modalities with ONE classifier: sharing the class weights is what makes it an
alignment loss, as it pulls an image and its caption towards the same weight vector.

All three compute in float32 whatever the input dtype (softmax over a (B, B) matrix divided by
0.02 loses too much in half precision).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _check_pair(image: Tensor, text: Tensor, labels: Tensor, name: str) -> None:
    if image.dim() != 2 or image.shape != text.shape:
        raise ValueError(
            f"{name}: image and text must both be (B, D) with the same shape, got "
            f"{tuple(image.shape)} and {tuple(text.shape)}"
        )
    if labels.shape != image.shape[:1]:
        raise ValueError(
            f"{name}: labels must have shape ({image.shape[0]},), got {tuple(labels.shape)}"
        )


def match_distribution(labels: Tensor) -> Tensor:
    """``q_ij = [labels_i == labels_j] / #{k: labels_k == labels_i}``: (B,) -> (B, B) float32.

    Row i spreads its mass evenly over the pairs of its own identity (itself included).
    """
    if labels.dim() != 1:
        raise ValueError(f"labels must have shape (B,), got {tuple(labels.shape)}")
    same = (labels.unsqueeze(1) == labels.unsqueeze(0)).float()  # (B, B)
    return same / same.sum(dim=1, keepdim=True)


def _kl_to_matches(logits: Tensor, q: Tensor, eps: float) -> Tensor:
    """``mean_i sum_j p_ij (log p_ij - log(q_ij + eps))`` with ``p = softmax(logits, dim=1)``."""
    log_p = F.log_softmax(logits, dim=1)  # (B, B)
    return (log_p.exp() * (log_p - torch.log(q + eps))).sum(dim=1).mean()


def sdm_loss(
    image: Tensor,
    text: Tensor,
    labels: Tensor,
    temperature: float = 0.02,
    eps: float = 1e-8,
) -> Tensor:
    """Similarity distribution matching (IRRA)::

        S_ij = cos(image_i, text_j)                                      # (B, B)
        p_ij = exp(S_ij / tau) / sum_k exp(S_ik / tau)                    # image i -> captions
        L_i2t = 1/B sum_i sum_j p_ij (log p_ij - log(q_ij + eps))
        L_t2i = the same with S^T (caption j -> images)
        L_sdm = L_i2t + L_t2i

    image, text: (B, D) paired features; labels: (B,) identities. The ``eps`` keeps the log
    finite where q_ij = 0; the loss is a KL divergence up to it (it is >= -log(1 + B eps)).
    """
    _check_pair(image, text, labels, "sdm_loss")
    image = F.normalize(image.float(), dim=1)
    text = F.normalize(text.float(), dim=1)
    return sdm_from_similarity(image @ text.T, labels, temperature, eps)  # (B, B) cosines


def sdm_from_similarity(
    similarity: Tensor, labels: Tensor, temperature: float = 0.02, eps: float = 1e-8
) -> Tensor:
    """SDM on a finished (B, B) similarity matrix of paired images (rows) and captions
    (columns), e.g. ACSA's local scores; :func:`sdm_loss` is this on cosines."""
    if similarity.ndim != 2 or similarity.shape != (labels.shape[0], labels.shape[0]):
        raise ValueError(
            f"sdm: similarity must be (B, B) for B = {labels.shape[0]} labels, "
            f"got {tuple(similarity.shape)}"
        )
    if not temperature > 0:
        raise ValueError(f"sdm: temperature must be > 0, got {temperature}")
    similarity = similarity.float()
    q = match_distribution(labels)  # (B, B), symmetric pattern: the same for both directions
    i2t = _kl_to_matches(similarity / temperature, q, eps)
    t2i = _kl_to_matches(similarity.T / temperature, q, eps)
    return i2t + t2i


def cmpm_loss(image: Tensor, text: Tensor, labels: Tensor, eps: float = 1e-8) -> Tensor:
    """Cross-modal projection matching (Zhang and Lu, ECCV 2018)::

        P_ij = image_i . text_j / |text_j|        (scalar projection of image i on caption j)
        p_ij = softmax_j(P_ij)
        L_i2t = 1/B sum_i sum_j p_ij (log p_ij - log(q_ij + eps))
        L_t2i = the same with text_i . image_j / |image_j|
        L_cmpm = L_i2t + L_t2i

    Unlike SDM the projected side is NOT normalised, so the loss also acts on the feature norms
    (no temperature: a longer image vector sharpens its own distribution). The text->image
    logits are not the transpose of the image->text ones: each direction projects its own
    modality onto the other's unit vectors.
    """
    _check_pair(image, text, labels, "cmpm_loss")
    image, text = image.float(), text.float()
    q = match_distribution(labels)  # (B, B)
    i2t = _kl_to_matches(image @ F.normalize(text, dim=1).T, q, eps)  # (B, B) projections
    t2i = _kl_to_matches(text @ F.normalize(image, dim=1).T, q, eps)
    return i2t + t2i


def id_loss(image_logits: Tensor, text_logits: Tensor, labels: Tensor) -> Tensor:
    """ID loss of text-image methods: ``CE(W image, labels) + CE(W text, labels)``.

    image_logits, text_logits: (B, C), the outputs of ONE classifier W applied to the image
    features and to the caption features; labels: (B,) identities in ``0..C-1``. With a shared
    W both modalities of a person are pulled towards the same class weight, which aligns them;
    two separate classifiers would not. IRRA's public code halves this sum (only a rescaling
    of the loss weight).
    """
    if image_logits.dim() != 2 or image_logits.shape != text_logits.shape:
        raise ValueError(
            f"id_loss: image_logits and text_logits must both be (B, C) with the same shape "
            f"(one classifier for both), got {tuple(image_logits.shape)} and "
            f"{tuple(text_logits.shape)}"
        )
    if labels.shape != image_logits.shape[:1]:
        raise ValueError(
            f"id_loss: labels must have shape ({image_logits.shape[0]},), got {tuple(labels.shape)}"
        )
    labels = labels.long()
    return F.cross_entropy(image_logits.float(), labels) + F.cross_entropy(
        text_logits.float(), labels
    )
