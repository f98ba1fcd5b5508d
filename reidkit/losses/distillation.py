"""Feature distillation: pull a student feature towards a teacher feature that does not move.

CSET's CA (seed 003, METHODS.md section 6) pulls the pooled feature of the exchanged ("mixed")
tokens towards the pooled clean feature, the one retrieval uses at test. The distance is the
cosine distance ``1 - cos(s, t)``, in [0, 2]:

* retrieval ranks by cosine similarity (``reidkit.eval``), so the term acts in that geometry;
* it has no scale, so its weight beside the identity and triplet losses does not depend on how
  large the features grow (a squared distance on un-normalised features would);
* the teacher is detached: only the student moves (a term whose both ends moved could shrink
  the clean feature towards the mixed one instead).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def cosine_distillation(student: Tensor, teacher: Tensor, eps: float = 1e-8) -> Tensor:
    """Mean over the batch of ``1 - cos(student_b, teacher_b)``; ``teacher`` is detached.

    student, teacher: (B, D) features of the same B items."""
    if student.dim() != 2 or student.shape != teacher.shape:
        raise ValueError(
            f"student and teacher must both have shape (B, D); got {tuple(student.shape)} and "
            f"{tuple(teacher.shape)}"
        )
    cosine = F.cosine_similarity(student.float(), teacher.detach().float(), dim=1, eps=eps)
    return (1.0 - cosine).mean()  # (B,) -> ()
