#!/usr/bin/env bash
# Runs every command of the published README for one dataset, as written there, from the repository
# root on a freshly written fixture tree under ./data, checks each one's outputs and prints wall times.
#
#   scripts/run_seed_commands.sh threed_front
#
# Only two kinds of change to the published commands (issue 6): smaller counts (--num_scenes; the
# trainer, which publishes no count and would run 100 epochs, gets --epochs 1), and for the
# manual-pair commands the fixture's own pair file in place of the authors' (theirs index the
# authors' pre-generated scenes). The README's `mkdir data/` is `mkdir -p data/` (data/ exists here).
# An existing data/3D-FRONT that this script did not write is never touched: it stops instead.
set -euo pipefail
cd "$(dirname "$0")/.."

dataset=${1:-}
if [ "$dataset" != "threed_front" ]; then
    echo "usage: scripts/run_seed_commands.sh threed_front" >&2
    exit 2
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
PAIRS=./sample_scene_pairs/fixture_threed_front.tsv
ROOT=./data/3d_front_scenes/3d_front_large_noise

for real in data/3D-FRONT data/3D-FUTURE-model data/3D-FRONT-model; do
    if [ -e "$real" ] && [ ! -e data/3D-FRONT/.fixture ]; then
        echo "error: $real exists and is not a fixture tree written by this script; move it away first" >&2
        exit 2
    fi
done
rm -rf data/3D-FRONT data/3D-FUTURE-model data/3D-FRONT-texture data/3d_front_point_samples "$ROOT" "${ROOT}_augment" \
    log/tdf_demo log/tdf_proc_eval_demo log/tdf_eval_demo log/3d_front_train_demo

seconds_since() {  # seconds (one decimal) since a `date +%s%N` stamp, in shell integer arithmetic
    local ms=$(( ($(date +%s%N) - $1) / 1000000 ))
    printf '%d.%d' $((ms / 1000)) $(((ms % 1000) / 100))
}
total_start=$(date +%s%N)
step() {  # step "what it must leave behind" command...
    local expect=$1
    shift
    echo "+ $*"
    local start
    start=$(date +%s%N)
    "$@"
    for path in $expect; do
        if [ ! -s "$path" ]; then
            echo "error: '$*' did not write $path" >&2
            exit 1
        fi
    done
    echo "  -> $(seconds_since "$start") s"
}

step "data/3D-FRONT/.fixture" python -m scene_analogy.fixtures threed_front --out . --quiet
mkdir -p data/
step "data/3d_front_point_samples/sample_400/$(ls data/3D-FUTURE-model | grep -v json | head -1).npy" \
    python -m threed_front.extract_point_samples --save_num_samples 50 100 200 400
step "$ROOT/train_scene_0/scene.npz $ROOT/test_scene_0/scene.npz" \
    python -m threed_front.main_scene_gen --num_load_layout -1 --save_root ./data/3d_front_scenes/3d_front_large_noise --max_trans_noise 0.5 --max_rot_noise 90 --num_scenes 60
step "${ROOT}_augment/test_scene_0/scene.npz" \
    python -m threed_front.main_scene_augment --orig_scene_root ./data/3d_front_scenes/3d_front_large_noise
step "log/tdf_demo/metrics.json log/tdf_demo/pair_0.png" \
    python -m threed_front.main_field_match --scene_root ./data/3d_front_scenes/3d_front_large_noise --log_dir ./log/tdf_demo/ --load_local_feature_field ./pretrained/3dfront_default/model.pth --load_global_feature_field ./pretrained/3dfront_default/model.pth --scene_buffer_size -1 --num_vert_split 1 --local_rbf_smoothing 0.5 --eval_reps 1 --batch_size 1 --global_num_rot 4 --global_dist_valid_thres 1.5 --global_mapping_type scale_rot --global_topk 30 --seed 10 --scene_pair_type manual --scene_pair_file $PAIRS --vis_local_match_mode intra_match --vis_method screen
step "log/tdf_proc_eval_demo/metrics.json" \
    python -m threed_front.main_field_match --scene_root ./data/3d_front_scenes/3d_front_large_noise --log_dir ./log/tdf_proc_eval_demo/ --load_local_feature_field ./pretrained/3dfront_default/model.pth --load_global_feature_field ./pretrained/3dfront_default/model.pth --scene_buffer_size -1 --num_vert_split 1 --local_rbf_smoothing 0.5 --eval_reps 1 --batch_size 1 --global_num_rot 4 --global_dist_valid_thres 1.5 --global_mapping_type scale_rot --global_topk 30 --seed 10 --scene_pair_type augment --query_point_type obj_match_points
step "log/tdf_eval_demo/metrics.json" \
    python -m threed_front.main_field_match --scene_root ./data/3d_front_scenes/3d_front_large_noise --log_dir ./log/tdf_eval_demo/ --load_local_feature_field ./pretrained/3dfront_default/model.pth --load_global_feature_field ./pretrained/3dfront_default/model.pth --scene_buffer_size -1 --num_vert_split 1 --local_rbf_smoothing 0.5 --eval_reps 1 --batch_size 1 --global_num_rot 4 --global_dist_valid_thres 1.5 --global_mapping_type scale_rot --global_topk 30 --seed 10 --scene_pair_type manual --scene_pair_file $PAIRS
step "log/3d_front_train_demo/model.pth log/3d_front_train_demo/curve.png" \
    python -m threed_front.trainer --scene_root ./data/3d_front_scenes/3d_front_large_noise --normalize_feats --wandb --log_dir ./log/3d_front_train_demo --run_name 3d_front_train_demo --agg_radius 0.75 --num_cache_query 400 --query_point_type obj_match_points --query_obj_match_add_bbox --epochs 1

echo "all $dataset commands of the published README passed in $(seconds_since "$total_start") s wall time"
