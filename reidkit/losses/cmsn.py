"""CMSN's two losses (Sun et al., TIFS 2025, seed 004; book/methods.md, chapter 14).

A batch holds B image features, the B features of their captions (paired row by row) and,
for CMSN, the B *combined* features that its CRL module builds from each image-caption pair,
with one identity label per row. Several rows may share an identity.

* CRIA (combined-representation identity alignment) pulls together, per identity in the batch,
  the centres of its image, text and combined features.
* SPT (semi-positive triplet) is a cross-modal triplet in which the paired item is the positive
  and the *other* items of the anchor's identity are semi-positives, held to a smaller margin.

The paper's abstract names both losses without formulas; the exact forms below are our reading
and each docstring says where we chose. Both compute in float32 whatever the input dtype.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from reidkit.losses.alignment import _check_pair


def _identity_centres(features: Tensor, members: Tensor) -> Tensor:
    """Mean feature of each identity: ``members`` (K, B) one-hot rows -> (K, D)."""
    return members @ features / members.sum(dim=1, keepdim=True)  # (K, D)


def cria_loss(image: Tensor, text: Tensor, combined: Tensor, labels: Tensor) -> Tensor:
    """Combined-representation identity alignment::

        u = x / |x|                                   (every feature L2-normalised)
        c^img_k  = mean_{i: labels_i = k} u^img_i     (likewise c^txt_k and c^comb_k)
        L_cria = 1/K sum_k ( |c^img_k - c^txt_k|^2 + |c^img_k - c^comb_k|^2
                             + |c^txt_k - c^comb_k|^2 )

    image, text, combined: (B, D), row i of each from pair i; labels: (B,). K is the number of
    identities present in the batch, and each counts once whatever its number of rows (an
    identity with a single row still counts: its centres are that row's features).

    The features are normalised first because the retrieval scores are cosines: centres of unit
    vectors are compared by direction, and a modality whose features are simply longer is not
    penalised. The loss is 0 when the three centres of every identity agree (the items need not
    match one by one) and it does not depend on the order of the batch.

    The paper says only that CRIA "aligns and constrains the identity centres of the three
    feature vectors"; the sum of the three squared distances between centres, averaged over
    identities, is our reading of it.
    """
    _check_pair(image, text, labels, "cria_loss")
    if combined.shape != image.shape:
        raise ValueError(
            f"cria_loss: combined must have the shape of image and text {tuple(image.shape)}, "
            f"got {tuple(combined.shape)}"
        )
    _, index = torch.unique(labels, return_inverse=True)  # (B,) in 0..K-1
    members = F.one_hot(index).T.float()  # (K, B)
    centres = [
        _identity_centres(F.normalize(x.float(), dim=1), members)  # (K, D)
        for x in (image, text, combined)
    ]
    c_img, c_txt, c_comb = centres
    distances = (
        (c_img - c_txt).pow(2).sum(1)
        + (c_img - c_comb).pow(2).sum(1)
        + (c_txt - c_comb).pow(2).sum(1)
    )  # (K,)
    return distances.mean()


def _semi_positive_direction(
    similarity: Tensor, same: Tensor, margin: float, semi_margin: float
) -> Tensor:
    """One direction of SPT: row i of ``similarity`` (B, B) holds anchor i's cosines to the
    other modality's items, ``same`` (B, B) their identity matches. Returns (B,) losses."""
    eye = torch.eye(len(same), dtype=torch.bool, device=same.device)
    semi = same & ~eye  # (B, B) semi-positives
    negative = ~same  # (B, B)
    has_negative = negative.any(1)  # (B,)
    hardest_negative = similarity.masked_fill(~negative, float("-inf")).amax(1)  # (B,)
    hardest_negative = hardest_negative.masked_fill(~has_negative, 0.0)  # no -inf in the hinges
    positive_term = F.relu(margin - similarity.diagonal() + hardest_negative)  # (B,)
    semi_terms = F.relu(semi_margin - similarity + hardest_negative.unsqueeze(1))  # (B, B)
    semi_term = (semi_terms * semi).sum(1) / semi.sum(1).clamp_min(1)  # (B,), 0 without any
    return (positive_term + semi_term) * has_negative


def semi_positive_triplet(
    image: Tensor,
    text: Tensor,
    labels: Tensor,
    margin: float = 0.3,
    semi_margin: float = 0.1,
) -> Tensor:
    """Semi-positive triplet (SPT), with cosine similarities ``s`` across the modalities::

        image i as anchor, against the B captions:
            P(i) = {i}                           (the paired caption: the positive)
            SP(i) = {j != i : labels_j = labels_i}   (the semi-positives)
            N(i) = {n : labels_n != labels_i}        (the negatives)
            h_i = max_{n in N(i)} s(i, n)            (the hardest negative)
            l_i = [m - s(i, i) + h_i]_+ + 1/|SP(i)| sum_{sp in SP(i)} [m_sp - s(i, sp) + h_i]_+
        L_i2t = 1/B sum_i l_i
        L_t2i = the same with caption i as anchor against the B images
        L_spt = L_i2t + L_t2i

    image, text: (B, D) paired features; labels: (B,). ``margin`` m = 0.3 and ``semi_margin``
    m_sp = 0.1 are the paper's values: a semi-positive (another image or caption of the same
    person, which may show or describe something else) must still beat every negative, but by
    less than the anchor's own pair. The semi-positive term is 0 for an anchor whose identity
    has no other row in the batch. An anchor with no negative (possible only when the whole
    batch is one identity) contributes 0, so such a batch gives a loss of 0.
    CMSN weights this loss by 0.5 in its objective; that weight is the caller's, not applied
    here.

    Anchors and their positives, semi-positives and negatives are always of different
    modalities. The abstract does not say which negative the hinges use: we take the hardest
    one in the batch, as the batch-hard triplet does (the fused-attention paper's eq. 14, seed
    002), so an anchor is penalised as long as any other person comes too close.
    """
    _check_pair(image, text, labels, "semi_positive_triplet")
    image = F.normalize(image.float(), dim=1)
    text = F.normalize(text.float(), dim=1)
    similarity = image @ text.T  # (B, B) cosines, row i: image i against every caption
    same = labels.unsqueeze(1) == labels.unsqueeze(0)  # (B, B), symmetric
    i2t = _semi_positive_direction(similarity, same, margin, semi_margin).mean()
    t2i = _semi_positive_direction(similarity.T, same, margin, semi_margin).mean()
    return i2t + t2i
