"""Checkable exercises: write a piece of the library yourself, then compare it with reidkit's.

Each ``check_<name>(your_function)`` runs your function and the library's on the same seeded
inputs (random ones and the edge cases that catch the usual slips) and returns a result that
shows as one line: a success line, or the first case where they differ and what differs
(a shape, a type, an exception, the largest difference and where it is). ``bool(result)`` is
True when every case agrees. The checks never change the global random state (except
``check_seed_everything``, which restores it).

    >>> from reidkit.exercises import check_pairwise_euclidean
    >>> check_pairwise_euclidean(torch.cdist)   # doctest: +SKIP
    ✓ pairwise_euclidean: agrees with reidkit.losses.pairwise_euclidean on all 4 cases

:data:`CHAPTER_EXERCISES` lists the checks of each written chapter (chapter 15's,
``CAST_CHECKS``, join it with its notebook).
"""

from reidkit.exercises.acsa import (
    check_phrase_token_mask,
    check_region_features,
    check_scan_attention,
)
from reidkit.exercises.augment import (
    check_permute_channels,
    check_select_channel,
    check_shifted_crop,
)
from reidkit.exercises.baseline import (
    check_batch_hard_triplet,
    check_bnneck,
    check_label_smoothing_ce,
    check_weighted_triplet,
)
from reidkit.exercises.cast import (
    CAST_CHECKS,
    check_branch_tokens,
    check_glaa_attention,
    check_partner_rows,
)
from reidkit.exercises.checking import Case, CheckResult, describe_difference, run_check
from reidkit.exercises.cmsn import (
    check_cria_loss,
    check_depth_keys,
    check_masked_attention,
    check_semi_positive_triplet,
)
from reidkit.exercises.crossvit import (
    check_branch_image_sizes,
    check_cls_cross_attention,
    check_cls_fusion,
)
from reidkit.exercises.csa import (
    check_channel_attention,
    check_csa_tokens,
    check_spatial_attention,
)
from reidkit.exercises.cset import (
    check_batch_statistics_norm,
    check_cosine_distillation,
    check_route_by_modality,
)
from reidkit.exercises.evaluation import (
    check_average_precision,
    check_cmc,
    check_inverse_negative_penalty,
    check_sysu_ranked_list,
)
from reidkit.exercises.exchange import (
    check_hard_exchange,
    check_matching_weights,
    check_soft_exchange,
    check_tanimoto_distance,
)
from reidkit.exercises.losses import (
    check_adaptive_triplet,
    check_center_loss,
    check_weighted_distances,
)
from reidkit.exercises.mhga import (
    check_graph_attention_layer,
    check_graph_attention_weights,
    check_relation_matrix,
)
from reidkit.exercises.scale import (
    check_data_workers,
    check_top_operations,
    check_training_seconds,
)
from reidkit.exercises.start import (
    check_choose_profile,
    check_pairwise_euclidean,
    check_seed_everything,
)
from reidkit.exercises.synthetic import (
    check_denormalize,
    check_model_input,
    check_raw_pixel_features,
)
from reidkit.exercises.text import check_masked_mean, check_match_distribution, check_sdm_loss
from reidkit.exercises.vit import (
    check_attention_rollout,
    check_attention_weights,
    check_patch_embedding,
    check_resize_pos_embed,
)

CHAPTER_EXERCISES = {
    0: (check_seed_everything, check_choose_profile, check_pairwise_euclidean),
    1: (check_model_input, check_denormalize, check_raw_pixel_features),
    2: (
        check_average_precision,
        check_inverse_negative_penalty,
        check_cmc,
        check_sysu_ranked_list,
    ),
    3: (
        check_patch_embedding,
        check_attention_weights,
        check_resize_pos_embed,
        check_attention_rollout,
    ),
    4: (check_label_smoothing_ce, check_batch_hard_triplet, check_weighted_triplet, check_bnneck),
    5: (check_select_channel, check_permute_channels, check_shifted_crop),
    6: (check_branch_image_sizes, check_cls_cross_attention, check_cls_fusion),
    7: (check_channel_attention, check_spatial_attention, check_csa_tokens),
    8: (check_center_loss, check_weighted_distances, check_adaptive_triplet),
    9: (
        check_tanimoto_distance,
        check_matching_weights,
        check_soft_exchange,
        check_hard_exchange,
    ),
    10: (check_relation_matrix, check_graph_attention_weights, check_graph_attention_layer),
    11: (check_cosine_distillation, check_route_by_modality, check_batch_statistics_norm),
    12: (check_match_distribution, check_sdm_loss, check_masked_mean),
    13: (check_region_features, check_scan_attention, check_phrase_token_mask),
    14: (
        check_cria_loss,
        check_semi_positive_triplet,
        check_masked_attention,
        check_depth_keys,
    ),
    15: CAST_CHECKS,
    16: (check_data_workers, check_training_seconds, check_top_operations),
}

__all__ = [
    "CAST_CHECKS",
    "CHAPTER_EXERCISES",
    "Case",
    "CheckResult",
    "check_adaptive_triplet",
    "check_attention_rollout",
    "check_attention_weights",
    "check_average_precision",
    "check_batch_hard_triplet",
    "check_batch_statistics_norm",
    "check_bnneck",
    "check_branch_tokens",
    "check_channel_attention",
    "check_branch_image_sizes",
    "check_center_loss",
    "check_choose_profile",
    "check_cls_cross_attention",
    "check_cls_fusion",
    "check_cmc",
    "check_cosine_distillation",
    "check_cria_loss",
    "check_csa_tokens",
    "check_data_workers",
    "check_denormalize",
    "check_depth_keys",
    "check_glaa_attention",
    "check_graph_attention_layer",
    "check_graph_attention_weights",
    "check_inverse_negative_penalty",
    "check_hard_exchange",
    "check_label_smoothing_ce",
    "check_masked_attention",
    "check_masked_mean",
    "check_match_distribution",
    "check_matching_weights",
    "check_model_input",
    "check_pairwise_euclidean",
    "check_partner_rows",
    "check_phrase_token_mask",
    "check_permute_channels",
    "check_patch_embedding",
    "check_raw_pixel_features",
    "check_relation_matrix",
    "check_region_features",
    "check_resize_pos_embed",
    "check_route_by_modality",
    "check_seed_everything",
    "check_scan_attention",
    "check_sdm_loss",
    "check_select_channel",
    "check_semi_positive_triplet",
    "check_shifted_crop",
    "check_soft_exchange",
    "check_spatial_attention",
    "check_tanimoto_distance",
    "check_top_operations",
    "check_weighted_distances",
    "check_training_seconds",
    "check_sysu_ranked_list",
    "check_weighted_triplet",
    "describe_difference",
    "run_check",
]
