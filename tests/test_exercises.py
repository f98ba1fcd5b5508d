"""Exercise checkers: each passes the library's own function (and a hand-written solution)
and fails a plausible wrong answer, saying which case and what differs."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reidkit import exercises
from reidkit.data import transforms
from reidkit.data.transforms import MEAN, STD, denormalize
from reidkit.exercises import (
    CHAPTER_EXERCISES,
    Case,
    acsa,
    baseline,
    cast,
    cmsn,
    crossvit,
    csa,
    cset,
    describe_difference,
    evaluation,
    exchange,
    losses,
    mhga,
    run_check,
    scale,
    start,
    text,
    vit,
)
from reidkit.losses import batch_hard_triplet, label_smoothing_cross_entropy, pairwise_euclidean
from reidkit.models.exchange import matching_weights
from reidkit.models.pretrained import resize_pos_embed
from reidkit.utils import seed_everything
from reidkit.viz.attention import attention_rollout


# Hand-written solutions, as a learner would write them.
def my_branch_tokens(patches, is_xray, cls_token, pos_embed, norm, modality_embedding):
    xray = is_xray[:, None, None]  # (B, 1, 1)
    if norm is not None:
        patches = torch.where(xray, norm(patches), patches)
    z = torch.cat([cls_token.expand(len(patches), -1, -1), patches], 1) + pos_embed
    return z if modality_embedding is None else z + xray * modality_embedding


def norm_after_position(patches, is_xray, cls_token, pos_embed, norm, modality_embedding):
    z = torch.cat([cls_token.expand(len(patches), -1, -1), patches], 1) + pos_embed
    if norm is not None:  # the LayerNorm after E_pos, and on the CLS token too
        z = torch.where(is_xray[:, None, None], norm(z), z)
    return z if modality_embedding is None else z + is_xray[:, None, None] * modality_embedding


def my_partner_rows(modalities, labels):
    visible, xray = (modalities == 0).nonzero().flatten(), (modalities == 2).nonzero().flatten()
    partner = torch.empty_like(modalities)
    partner[visible], partner[xray] = xray, visible
    return partner


def first_of_the_same_package(modalities, labels):
    return torch.tensor(
        [
            next(j for j in range(len(labels)) if labels[j] == labels[i] and modalities[j] != m)
            for i, m in enumerate(modalities)
        ]
    )


def my_glaa_attention(glaa, cls, patches, scale=True):
    attn = glaa.attn
    B, N, D = patches.shape
    h, d = attn.num_heads, D // attn.num_heads
    q = attn.wq(glaa.norm_global(cls)).reshape(B, h, 1, d)
    context = glaa.norm_local(patches)
    k = attn.wk(context).reshape(B, N, h, d).transpose(1, 2)  # (B, h, N, d)
    v = attn.wv(context).reshape(B, N, h, d).transpose(1, 2)
    weights = (q @ k.transpose(-2, -1) / (d**0.5 if scale else 1.0)).softmax(-1)  # (B, h, 1, N)
    return attn.proj((weights @ v).reshape(B, D)), weights[:, :, 0]


def my_route_by_modality(images, modalities, visible, infrared):
    rows = [visible(x[None]) if m == 0 else infrared(x[None]) for x, m in zip(images, modalities)]
    return torch.cat(rows)  # (B, D), one image at a time


def my_batch_statistics_norm(bn, features):
    mean, var = features.mean(0), features.var(0, unbiased=False)
    return (features - mean) / torch.sqrt(var + bn.eps) * bn.weight + bn.bias


def my_top_operations(events, top):
    times = sorted(((e.key, e.self_cpu_time_total / 1000) for e in events), key=lambda t: -t[1])
    times = [(name, ms) for name, ms in times if ms > 0]
    rest = times[top:]
    other = [(f"other ({len(rest)} operators)", sum(ms for _, ms in rest))] if rest else []
    return times[:top] + other


def my_average_precision(matches):
    ranks = np.flatnonzero(matches) + 1
    return float(np.mean(np.arange(1, len(ranks) + 1) / ranks))


def my_raw_pixel_features(images, size):
    return F.adaptive_avg_pool2d(images, size).flatten(1)  # (B, 3 * h * w)


def box_means(images, size):
    B, C, H, W = images.shape
    h, w = size
    boxes = images.reshape(B, C, h, H // h, w, W // w)  # only right when h | H and w | W
    return boxes.mean(dim=(3, 5)).flatten(1)


def my_cmc(ranked_pids, query_pid, max_rank, deduplicate):
    ids = list(dict.fromkeys(ranked_pids.tolist())) if deduplicate else ranked_pids.tolist()
    return (np.arange(1, max_rank + 1) >= ids.index(query_pid) + 1).astype(float)


def my_patch_embedding(images, weight, bias, patch_size):
    columns = F.unfold(images, patch_size, stride=patch_size)  # (B, C*P*P, N)
    return columns.transpose(1, 2) @ weight.flatten(1).T + bias  # (B, N, D)


def my_attention_weights(attention, h):
    B, N, D = h.shape
    qkv = attention.qkv(h).reshape(B, N, 3, attention.num_heads, D // attention.num_heads)
    q, k, _ = qkv.permute(2, 0, 3, 1, 4)  # each (B, heads, N, head_dim)
    return (q @ k.transpose(-2, -1) / (D // attention.num_heads) ** 0.5).softmax(-1)


def my_bnneck(features, neck, unbiased=False):
    bn = neck.bn
    if neck.training:
        mean, var = features.mean(0), features.var(0, unbiased=unbiased)
    else:
        mean, var = bn.running_mean, bn.running_var
    return (features - mean) / torch.sqrt(var + bn.eps) * bn.weight + bn.bias


def no_numpy_seed(seed):
    random.seed(seed)
    torch.manual_seed(seed)


def plain_softmax_ce(logits, targets, epsilon):
    probabilities = logits.exp() / logits.exp().sum(1, keepdim=True)  # overflows
    target = torch.full_like(probabilities, epsilon / logits.shape[1])
    target[torch.arange(len(targets)), targets] += 1 - epsilon
    return -(target * probabilities.log()).sum(1).mean()


def hard_triplet_over_all_anchors(features, labels, margin):
    d = torch.cdist(features, features)
    same = labels[:, None] == labels[None]
    hardest_positive = d.masked_fill(~same, -1).amax(1)
    hardest_negative = d.masked_fill(same, float("inf")).amin(1)
    return F.relu(hardest_positive - hardest_negative + margin).mean()  # keeps lonely anchors


def rollout_wrong_order(attentions, grid, residual=0.5):
    result = None
    for weights in attentions:
        eye = torch.eye(weights.shape[-1])
        mixed = residual * eye + (1 - residual) * weights.mean(1)
        mixed = mixed / mixed.sum(-1, keepdim=True)
        result = mixed if result is None else result @ mixed  # earlier layers on the left
    return result[:, 0, 1:].reshape(-1, *grid)


def my_shifted_crop(images, pad, top, left):
    padded = F.pad(images, (pad, pad, pad, pad))
    h, w = images.shape[-2:]
    return torch.stack([p[:, t : t + h, s : s + w] for p, t, s in zip(padded, top, left)])


def my_channel_attention(x, mlp):
    return torch.sigmoid(mlp(x.mean(dim=(2, 3))) + mlp(x.amax(dim=(2, 3))))


def my_spatial_attention(x, conv, max_first=False):
    pooled = [x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)]  # (B, 1, h, w) each
    return torch.sigmoid(conv(torch.cat(pooled[::-1] if max_first else pooled, 1))).squeeze(1)


def my_csa_tokens(tokens, grid, module, transpose=True):
    B, N, C = tokens.shape
    if transpose:
        x = tokens.transpose(1, 2).reshape(B, C, *grid)  # (B, C, h, w)
    else:
        x = tokens.reshape(B, C, *grid)  # the slip: the numbers land in the wrong places
    x = x * module.channel(x)[:, :, None, None]
    x = x * module.spatial(x)[:, None]
    return x.flatten(2).transpose(1, 2)  # (B, N, C)


def my_relation_matrix(grid, lambdas, modalities, diagonals=True):
    h, w = grid
    cells = [(p // w, p % w) for p in range(h * w)] * modalities  # visible nodes, then infrared
    R = torch.empty(len(cells), len(cells))
    for i, (ri, ci) in enumerate(cells):
        for j, (rj, cj) in enumerate(cells):
            dr, dc = abs(ri - rj), abs(ci - cj)
            near = max(dr, dc) == 1 if diagonals else dr + dc == 1
            R[i, j] = lambdas[0] if dr == dc == 0 else lambdas[1] if near else lambdas[2]
    return R


def my_graph_attention_weights(wh, a_i, a_j, relation, slope, relation_after=False):
    scores = (wh @ a_i[:, :, None]) + (wh @ a_j[:, :, None]).transpose(-2, -1)  # (B, h, n, n)
    scores = F.leaky_relu(scores, slope)
    if relation_after:  # the slip: R weighs the probabilities instead of the scores
        alpha = scores.softmax(-1) * relation
        return alpha / alpha.sum(-1, keepdim=True)
    return (scores * relation).softmax(-1)


def my_graph_attention_layer(mhga, nodes, relation, norm=True):
    B, n, D = nodes.shape
    wh = mhga.W(nodes).reshape(B, n, mhga.num_heads, -1).transpose(1, 2)  # (B, heads, n, hd)
    alpha = my_graph_attention_weights(wh, mhga.a_i, mhga.a_j, relation, mhga.negative_slope)
    h = (alpha @ wh).transpose(1, 2).reshape(B, n, D)  # (B, n, D)
    out = nodes + mhga.proj(h)
    return mhga.norm(out) if norm else out


def my_weighted_distances(features, labels, negative_sign=-1.0):
    d = torch.cdist(features, features)  # (B, B)
    same = labels[:, None] == labels[None]  # (B, B)
    positive = same & ~torch.eye(len(labels), dtype=torch.bool)

    def weighted(scores, mask):
        weights = torch.where(mask, scores.exp(), torch.zeros_like(scores))
        return (weights * d).sum(1) / weights.sum(1).clamp_min(1e-12)

    return weighted(d, positive), weighted(negative_sign * d, ~same)


def my_adaptive_triplet(features, labels, margin, hinge=True):
    d_p, d_n = my_weighted_distances(features, labels)
    same = labels[:, None] == labels[None]
    has_both = (same.sum(1) > 1) & (~same).any(1)
    gaps = d_p - d_n + margin
    return (gaps.clamp_min(0) if hinge else gaps)[has_both].mean()


def my_branch_sizes(img_size, patch_sizes, img_scales):
    return [
        (int(img_size[0] * s) // p * p, int(img_size[1] * s) // p * p)
        for p, s in zip(patch_sizes, img_scales)
    ]


def my_cls_cross_attention(attention, z, scale=None):
    B, N, D = z.shape
    h, hd = attention.num_heads, D // attention.num_heads
    q = attention.wq(z[:, :1]).reshape(B, 1, h, hd).transpose(1, 2)  # (B, h, 1, hd)
    k = attention.wk(z).reshape(B, N, h, hd).transpose(1, 2)  # (B, h, N, hd)
    return (q @ k.transpose(-2, -1) * (scale or hd**-0.5)).softmax(dim=-1)


def my_fusion(block, tokens, own_patches=False):
    out = []
    for b in (0, 1):
        patches = tokens[b if own_patches else 1 - b][:, 1:]
        if own_patches:  # the wrong answer needs matching widths: project its own patches
            patches = block.projs[b][2](patches)
        z = torch.cat([block.projs[b](tokens[b][:, :1]), patches], dim=1)
        cls, _ = block.fusion[b](z)
        out.append(torch.cat([block.revert_projs[b](cls), tokens[b][:, 1:]], dim=1))
    return out


def my_tanimoto_distance(a, b, keep_overlap=False):
    dot = a @ b.transpose(1, 2)  # (B, N, M)
    union = a.square().sum(-1)[:, :, None] + b.square().sum(-1)[:, None, :]  # (B, N, M)
    return 1 - dot / (union if keep_overlap else union - dot)  # the slip: a.b counted twice


def my_matching_weights(query, other, alpha, temperature, swapped=False):
    scores = query @ query.transpose(1, 2) / (query.shape[-1] ** 0.5 * temperature)
    weight = 1 - alpha if swapped else alpha
    jaccard = my_tanimoto_distance(query, other)
    return weight * (1 - jaccard) + (1 - weight) * scores.softmax(dim=-1)


def my_soft_exchange(receiver, giver, alpha, beta, tau, with_cls=False):
    start = 0 if with_cls else 1  # the slip: matching and mixing the CLS tokens too
    own, other = receiver[:, start:], giver[:, start:]
    weights = (matching_weights(own, other, alpha) / tau).softmax(dim=-1)  # (B, N, N)
    mixed = own + beta * weights @ other
    return mixed if with_cls else torch.cat([receiver[:, :1], mixed], dim=1)


def my_hard_exchange(receiver, giver, alpha, beta, top_r, first_tokens=False):
    own, other = receiver[:, 1:], giver[:, 1:]
    best, partner = matching_weights(own, other, alpha).max(dim=-1)  # (B, N) each
    k = max(1, int(top_r * own.shape[1] + 0.5))
    mixed = own.clone()
    for b in range(len(own)):
        rows = torch.arange(k) if first_tokens else best[b].topk(k).indices
        mixed[b, rows] += beta * other[b, partner[b, rows]]
    return torch.cat([receiver[:, :1], mixed], dim=1)


def my_match_distribution(labels):
    same = (labels[:, None] == labels[None, :]).float()  # (B, B)
    return same / same.sum(1, keepdim=True)


def my_sdm_loss(image, text, labels, temperature):
    cos = F.normalize(image, dim=1) @ F.normalize(text, dim=1).T  # (B, B)
    q = my_match_distribution(labels)
    total = 0.0
    for logits in (cos / temperature, cos.T / temperature):
        p = logits.softmax(dim=1)
        total = total + (p * (p.log() - (q + 1e-8).log())).sum(1).mean()
    return total


def my_masked_mean(tokens, mask):
    mask = mask.unsqueeze(-1).to(tokens.dtype)  # (B, L, 1)
    return (tokens * mask).sum(1) / mask.sum(1)


def my_region_features(tokens, grid):
    h, w = grid
    patches = tokens[:, -h * w :]  # (B, h*w, D): the CLS token left out
    maps = patches.transpose(1, 2).reshape(tokens.shape[0], -1, h, w)  # (B, D, h, w)
    cells = [F.adaptive_avg_pool2d(maps, size) for size in ((2, 1), (4, 2))]
    return torch.cat([c.flatten(2).transpose(1, 2) for c in cells], dim=1)  # (B, 10, D)


def my_scan_attention(queries, keys, lam, normalise_over=0):
    s = F.leaky_relu(queries @ keys.T, 0.1)  # (Q, K)
    s = s / s.norm(dim=normalise_over, keepdim=True).clamp(min=1e-8)
    return torch.softmax(lam * s, dim=1)


def my_phrase_token_mask(offsets, spans, length, touching=False):
    mask = torch.zeros(len(spans), length)
    for k, (first, end, _) in enumerate(spans):
        for t, (a, b) in enumerate(offsets[:length]):
            overlaps = a <= end and b >= first if touching else a < end and b > first
            mask[k, t] = float(b > a and overlaps)
    return mask


def my_cria_loss(image, text, combined, labels, normalise=True, per_row=False):
    """``per_row`` and ``normalise=False`` are the wrong answers below."""
    total, people = 0.0, labels if per_row else labels.unique()
    for person in people:
        rows = labels == person
        c = [
            (F.normalize(x, dim=1) if normalise else x)[rows].mean(0)
            for x in (image, text, combined)
        ]
        total = total + (c[0] - c[1]).pow(2).sum() + (c[0] - c[2]).pow(2).sum()
        total = total + (c[1] - c[2]).pow(2).sum()
    return total / len(people)


def my_semi_positive_triplet(image, text, labels, margin, semi_margin):
    s = F.normalize(image, dim=1) @ F.normalize(text, dim=1).T  # (B, B)
    same = labels[:, None] == labels[None, :]

    def direction(s):
        losses = []
        for i in range(len(labels)):
            if same[i].all():
                losses.append(torch.tensor(0.0))
                continue
            h = s[i][~same[i]].max()
            loss = F.relu(margin - s[i, i] + h)
            semi = same[i].clone()
            semi[i] = False
            if semi.any():
                loss = loss + F.relu(semi_margin - s[i][semi] + h).mean()
            losses.append(loss)
        return torch.stack(losses).mean()

    return direction(s) + direction(s.T)


def my_masked_attention(q, k, v, key_mask):
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5  # (B, h, M, N)
    scores = scores.masked_fill(~key_mask[:, None, None, :], float("-inf"))
    weights = scores.softmax(-1)
    return weights @ v, weights


def my_depth_keys(tokens, depth_embed, key_mask):
    keys = torch.cat([t + depth_embed[d] for d, t in enumerate(tokens)], dim=1)
    return keys, torch.cat([key_mask.bool()] * len(tokens), dim=1)


CHECKS = [
    # (check, the library's function or a correct solution, a wrong answer, words of the failure)
    (start.check_seed_everything, seed_everything, no_numpy_seed, "['numpy']"),
    (
        start.check_choose_profile,
        start.reference_choose_profile,
        lambda env, cuda: env.get("REIDKIT_PROFILE") or ("smoke" if "CI" in env else "quick"),
        "nothing set, a GPU): got 'quick', expected 'full'",
    ),
    (
        start.check_pairwise_euclidean,
        pairwise_euclidean,
        lambda x, y: ((x[:, None] - y[None]) ** 2).sum(-1),  # squared distances
        "case 1 of 4",
    ),
    (start.check_pairwise_euclidean, torch.cdist, lambda x, y: torch.cdist(y, x), "shape (5, 4)"),
    (
        exercises.check_model_input,
        lambda image, size: transforms.test_transform(size)(image),
        lambda image, size: torch.from_numpy(
            np.asarray(image.resize(size[::-1]), np.float32) / 255
        ).permute(2, 0, 1),  # not normalised
        "values differ",
    ),
    (
        exercises.check_denormalize,
        denormalize,
        lambda x: x * torch.tensor(STD).view(3, 1, 1) + torch.tensor(MEAN).view(3, 1, 1),
        "expected 1",  # not clamped
    ),
    (exercises.check_raw_pixel_features, my_raw_pixel_features, box_means, "unequal size"),
    (
        evaluation.check_average_precision,
        my_average_precision,
        lambda m: float(np.mean(np.cumsum(m) / np.arange(1, len(m) + 1))),  # every rank
        "got 0.240794, expected 0.392857",
    ),
    (
        evaluation.check_inverse_negative_penalty,
        lambda m: np.sum(m) / (np.flatnonzero(m)[-1] + 1),
        lambda m: 1 / (np.flatnonzero(m)[-1] + 1),
        "expected 0.285714",
    ),
    (evaluation.check_cmc, my_cmc, lambda p, q, k, d: my_cmc(p, q, k, False), "de-duplicated"),
    (
        evaluation.check_sysu_ranked_list,
        evaluation.reference_sysu_ranked_list,
        lambda d, qp, qc, gp, gc: np.argsort(d, kind="stable").tolist(),  # nothing removed
        "got shape (12,), expected shape (9,)",
    ),
    (
        vit.check_patch_embedding,
        my_patch_embedding,
        lambda x, w, b, p: my_patch_embedding(x, w, b, p).transpose(1, 2),
        "got shape",
    ),
    (
        vit.check_attention_weights,
        my_attention_weights,
        lambda a, h: my_attention_weights(a, h).transpose(-2, -1),
        "values differ",
    ),
    (
        vit.check_resize_pos_embed,
        resize_pos_embed,
        lambda pe, old, new: torch.cat(
            [
                pe[:, :1],
                F.interpolate(
                    pe[:, 1:].reshape(1, *old, -1).permute(0, 3, 1, 2), new, mode="bicubic"
                )
                .flatten(2)
                .transpose(1, 2),
            ],
            1,
        ),  # no antialiasing when shrinking
        "14x14 (224x224) to 16x8",
    ),
    (vit.check_attention_rollout, attention_rollout, rollout_wrong_order, "three layers"),
    (
        baseline.check_label_smoothing_ce,
        label_smoothing_cross_entropy,
        plain_softmax_ce,
        "large logits (exp overflows)): got nan",
    ),
    (
        baseline.check_batch_hard_triplet,
        batch_hard_triplet,
        hard_triplet_over_all_anchors,
        "chapter 4's line",
    ),
    (
        baseline.check_weighted_triplet,
        baseline.reference_weighted_triplet,
        lambda f, y: exercises.baseline.reference_weighted_triplet(f, y) * 1.01,
        "16 features, 4 identities",
    ),
    (
        baseline.check_bnneck,
        my_bnneck,
        lambda f, neck: my_bnneck(f, neck, unbiased=True),
        "training mode: the batch's statistics",
    ),
    (
        exercises.check_select_channel,
        lambda x, c: x[torch.arange(len(x)), c][:, None].expand_as(x),
        lambda x, c: x.mean(1, keepdim=True).expand_as(x),  # greyscale, not one channel
        "case 1 of 4",
    ),
    (
        exercises.check_permute_channels,
        lambda x, o: torch.stack([i[p] for i, p in zip(x, o)]),
        lambda x, o: torch.stack([i[p.argsort()] for i, p in zip(x, o)]),  # the inverse
        "not its inverse",
    ),
    (
        exercises.check_shifted_crop,
        my_shifted_crop,
        lambda x, pad, top, left: my_shifted_crop(x, pad, left, top),  # rows and columns swapped
        "a shift down, not right",
    ),
    (
        csa.check_channel_attention,
        my_channel_attention,
        lambda x, mlp: torch.sigmoid(2 * mlp(x.mean(dim=(2, 3)))),  # average pooling only
        "two 4x2 maps, 32 channels",
    ),
    (
        csa.check_spatial_attention,
        my_spatial_attention,
        lambda x, conv: my_spatial_attention(x, conv, max_first=True),
        "values differ",
    ),
    (
        csa.check_csa_tokens,
        my_csa_tokens,
        lambda t, grid, module: my_csa_tokens(t, grid, module, transpose=False),
        "two 4x2 maps, 32 channels",
    ),
    (
        losses.check_center_loss,
        lambda f, y, c: 0.5 * (f - c[y]).pow(2).sum(1).mean(),
        lambda f, y, c: (f - c[y]).pow(2).sum(1).mean(),  # without the 1/2
        "8 features, 3 classes",
    ),
    (
        losses.check_weighted_distances,
        my_weighted_distances,
        lambda f, y: my_weighted_distances(f, y, negative_sign=1.0),  # far negatives weigh more
        "16 features, 4 identities",
    ),
    (
        losses.check_adaptive_triplet,
        my_adaptive_triplet,
        lambda f, y, margin: my_adaptive_triplet(f, y, margin, hinge=False),  # eq. 15 as printed
        "chapter 4's line",
    ),
    (
        exchange.check_tanimoto_distance,
        my_tanimoto_distance,
        lambda a, b: my_tanimoto_distance(a, b, keep_overlap=True),
        "case 1 of 5",
    ),
    (
        exchange.check_matching_weights,
        my_matching_weights,
        lambda q, o, alpha, t: my_matching_weights(q, o, alpha, t, swapped=True),
        "the paper's alpha = 0.7",
    ),
    (
        exchange.check_soft_exchange,
        my_soft_exchange,
        lambda r, g, alpha, beta, tau: my_soft_exchange(r, g, alpha, beta, tau, with_cls=True),
        "case 1 of 3 (two pairs, 8 patches of 16 numbers)",
    ),
    (
        exchange.check_hard_exchange,
        my_hard_exchange,
        lambda r, g, alpha, beta, top_r: my_hard_exchange(r, g, alpha, beta, top_r, True),
        "two pairs, 8 patches of 16 numbers",
    ),
    (
        crossvit.check_branch_image_sizes,
        my_branch_sizes,
        lambda size, patches, scales: [(int(size[0] * s), int(size[1] * s)) for s in scales],
        # not rounded down to a multiple of the patch size
        "256x128 with timm's scales",
    ),
    (
        crossvit.check_cls_cross_attention,
        my_cls_cross_attention,
        lambda a, z: my_cls_cross_attention(a, z, scale=a.head_dim**-1.0),
        "values differ",
    ),
    (
        crossvit.check_cls_fusion,
        my_fusion,
        lambda block, tokens: my_fusion(block, tokens, own_patches=True),  # its own patches
        "values differ",
    ),
    (
        mhga.check_relation_matrix,
        my_relation_matrix,
        lambda grid, lambdas, m: my_relation_matrix(grid, lambdas, m, diagonals=False),
        "diagonal cells are neighbours",
    ),
    (
        mhga.check_graph_attention_weights,
        my_graph_attention_weights,
        lambda wh, a_i, a_j, r, s: my_graph_attention_weights(wh, a_i, a_j, r, s, True),
        "values differ",
    ),
    (
        mhga.check_graph_attention_layer,
        my_graph_attention_layer,
        lambda module, nodes, r: my_graph_attention_layer(module, nodes, r, norm=False),
        "2 pairs, D = 8",
    ),
    (
        cset.check_cosine_distillation,
        lambda s, t: (1 - F.cosine_similarity(s, t.detach(), dim=1)).mean(),
        lambda s, t: (1 - F.cosine_similarity(s, t, dim=1)).mean(),  # the teacher moves too
        "teacher_gradient",
    ),
    (
        cset.check_route_by_modality,
        my_route_by_modality,
        lambda x, m, visible, infrared: torch.cat([visible(x[m == 0]), infrared(x[m == 1])]),
        "interleaved",  # the rows come back grouped by modality, not in batch order
    ),
    (
        cset.check_batch_statistics_norm,
        my_batch_statistics_norm,
        lambda bn, f: bn(f),  # right numbers, but the running statistics move
        "running_mean",
    ),
    (
        scale.check_data_workers,
        lambda wanted, cpus: max(0, min(wanted, cpus - 1)),
        lambda wanted, cpus: min(wanted, cpus),  # forgets the training process's core
        "Colab: 2 cores, 4 wanted",
    ),
    (
        scale.check_training_seconds,
        lambda steps, flops, tflops, overhead: steps * (flops / (tflops * 1e12) + overhead),
        lambda steps, flops, tflops, overhead: steps * flops / (tflops * 1e12),  # no overhead
        "chapter 4 full on a T4",
    ),
    (
        scale.check_top_operations,
        my_top_operations,
        lambda events, top: my_top_operations(events, top)[:top],  # drops "other"
        "a training step, top 3",
    ),
    (
        text.check_match_distribution,
        my_match_distribution,
        lambda labels: (labels[:, None] == labels[None, :]).float(),  # rows not normalised
        "two people, two items each",
    ),
    (
        text.check_sdm_loss,
        my_sdm_loss,
        lambda image, text, labels, temperature: my_sdm_loss(image, text, labels, 1.0),
        "tau 0.02",  # the temperature forgotten
    ),
    (
        acsa.check_region_features,
        my_region_features,
        lambda tokens, grid: my_region_features(tokens[:, :-1], grid),  # off by one token
        "a 4 x 2 grid, one image",
    ),
    (
        acsa.check_scan_attention,
        my_scan_attention,
        lambda q, k, lam: my_scan_attention(q, k, lam, normalise_over=1),  # over the keys
        "3 phrases over 10 regions",
    ),
    (
        acsa.check_phrase_token_mask,
        my_phrase_token_mask,
        lambda offsets, spans, length: my_phrase_token_mask(offsets, spans, length, True),
        "the hyphen touches",
    ),
    (
        text.check_masked_mean,
        my_masked_mean,
        lambda tokens, mask: tokens.mean(1),  # padding averaged in
        "three captions of 3, 5 and 1 tokens",
    ),
    (
        cmsn.check_cria_loss,
        my_cria_loss,
        lambda *args: my_cria_loss(*args, per_row=True),  # averaged over rows, not people
        "3 rows of one person, 2 of another",
    ),
    (
        cmsn.check_cria_loss,
        my_cria_loss,
        lambda *args: my_cria_loss(*args, normalise=False),  # the rows not normalised
        "3 people x 2 pairs",
    ),
    (
        cmsn.check_semi_positive_triplet,
        my_semi_positive_triplet,
        lambda image, text, labels, margin, semi_margin: my_semi_positive_triplet(
            image,
            text,
            labels,
            margin,
            margin,  # the semi-positives held to the full margin
        ),
        "3 people x 2 pairs",
    ),
    (
        cmsn.check_masked_attention,
        my_masked_attention,
        lambda q, k, v, key_mask: my_masked_attention(q, k, v, torch.ones_like(key_mask)),
        "captions of 3, 6 and 1 real keys",  # padding attended to
    ),
    (
        cmsn.check_depth_keys,
        my_depth_keys,
        lambda tokens, depth_embed, key_mask: (
            torch.cat(tokens, dim=1),
            my_depth_keys(tokens, depth_embed, key_mask)[1],
        ),  # the depth embeddings forgotten
        "2 depths of 4 tokens",
    ),
    (cast.check_branch_tokens, my_branch_tokens, norm_after_position, "case 1 of 5"),
    (cast.check_partner_rows, my_partner_rows, first_of_the_same_package, "P x K blocks"),
    (
        cast.check_glaa_attention,
        my_glaa_attention,
        lambda glaa, cls, patches: my_glaa_attention(glaa, cls, patches, scale=False),
        "2 heads",  # the 1 / sqrt(head_dim) forgotten
    ),
]


@pytest.mark.parametrize("check, right, wrong, words", CHECKS, ids=[c[0].__name__ for c in CHECKS])
def test_check_passes_a_right_answer_and_fails_a_wrong_one(check, right, wrong, words):
    passed = check(right)
    assert passed and passed.message.startswith("✓"), passed.message
    failed = check(wrong)
    assert not failed and failed.message.startswith("✗"), failed.message
    assert words in failed.message
    assert failed.failing_case is not None and repr(failed) == failed.message


def test_every_written_chapter_has_three_checks():
    from reidkit.course import CHAPTERS

    assert sorted(CHAPTER_EXERCISES) == [c.number for c in CHAPTERS if c.written]
    for chapter, checks in CHAPTER_EXERCISES.items():
        assert len(checks) >= 3, f"chapter {chapter}"
        assert all(check.__name__.startswith("check_") for check in checks)
    listed = {check for checks in CHAPTER_EXERCISES.values() for check in checks}
    assert listed == {c for c in (c[0] for c in CHECKS)}  # each is tested above


def test_checks_leave_the_global_random_state_alone():
    torch.manual_seed(5)
    np.random.seed(5)  # noqa: NPY002
    expected = torch.rand(2), np.random.rand(2)  # noqa: NPY002
    torch.manual_seed(5)
    np.random.seed(5)  # noqa: NPY002
    for checks in CHAPTER_EXERCISES.values():
        for check in checks:
            check(lambda *args, **kwargs: None)
    assert torch.equal(torch.rand(2), expected[0])
    assert np.array_equal(np.random.rand(2), expected[1])  # noqa: NPY002


def test_stubs_exceptions_and_non_functions_are_reported():
    def stub(x, y):
        raise NotImplementedError

    assert "not written yet" in start.check_pairwise_euclidean(stub).message
    assert "returned None" in start.check_pairwise_euclidean(lambda x, y: None).message
    crash = start.check_pairwise_euclidean(lambda x, y: x @ y)
    assert "raised RuntimeError" in crash.message and crash.failing_case == 1
    assert not run_check("demo", 3, abs, [Case("one", (1,))], "abs")


def test_describe_difference_names_what_differs():
    assert describe_difference(torch.ones(2, 3), np.ones((2, 3))) == ""
    assert (
        describe_difference(torch.ones(3), np.ones((2, 3)))
        == "got shape (3,), expected shape (2, 3)"
    )
    assert describe_difference(1.5, 1.5 + 1e-7) == ""
    assert describe_difference(np.array([1, 2, 4]), [1, 2, 3]) == (
        "1 of 3 values differ; largest |difference| 1 at index (2,): got 4, expected 3"
    )
    assert describe_difference([0, 1], np.array([0, 1])) == ""  # integers compare exactly
    assert "index (1,): got 5, expected 2" in describe_difference([1, 5], np.array([1, 2]))
    assert describe_difference((1.0, 2.0), (1.0, 2.5)).startswith("item 1 of the tuple")
    assert describe_difference("quick", "full") == "got 'quick', expected 'full'"
    assert "expected a tuple of 2" in describe_difference(1.0, (1.0, 2.0))
    assert "expected a dict" in describe_difference({"a": 1}, {"b": 1})
    assert describe_difference(float("nan"), 1.0).startswith("got nan")
    assert describe_difference("text", 1.0) == "expected float, got str"
