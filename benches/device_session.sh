#!/usr/bin/env bash
# One device session (a GPU machine with the repo, the built csip_core extension and torch):
# sfb_batch scaling on all cores (with the process ceiling that tells the code from the machine),
# then the study's full table on CUDA. Outputs go to $OUT. SKIP_TABLE=1 runs the scaling part only.
export PYTHONPATH=$PWD/python PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name --format=csv,noheader; nproc
python3 -c "import csip_core, torch; print('csip_core', csip_core.__file__, 'torch', torch.__version__)" || exit 1
echo "== sfb_batch scaling: threads beside independent single-thread processes (the machine's"
echo "   ceiling), the load-imbalance bound, prefaulted output; about 30-40 s on 16 idle cores"
# BASELINE_CORE=DIR (optional): a folder holding another build's csip_core package, timed in the
# same run, e.g. the engine before the guided hand-out: baseline_core/csip_core/ (git-ignored; a
# copy of python/csip_core/ with that build's .so), carried with the run as "baseline_core".
# SCALING_PAIRS (default 2048) only for a dry run on a small machine.
lscpu 2>/dev/null | grep -E "^(Model name|Thread|Core|Socket|NUMA node\(s\)|L3|CPU\(s\)|On-line|Hypervisor|CPU max MHz)" | tee $OUT/lscpu.txt
timeout 90 python3 benches/bench_sfb_scaling.py --threads 1,2,4,8,16 --pairs ${SCALING_PAIRS:-2048} --repeats 3 \
    ${BASELINE_CORE:+--baseline "$BASELINE_CORE"} 2>&1 | tee $OUT/sfb_scaling.txt
# HANDOUT_BIN=path (optional): benches/rust/handout.rs built here (`cargo bench --bench handout
# --no-run` prints it; copy it to e.g. baseline_core/handout and carry it): the hand-out alone,
# rayon's splitting beside the guided claims, on sleeping work (about 20 s)
[ -x "${HANDOUT_BIN:-}" ] && timeout 40 "$HANDOUT_BIN" 2048 9 2>&1 | tee $OUT/handout.txt
[ -n "$SKIP_TABLE" ] && exit 0
echo "== full table (4 encoders x 3 seeds, width 64, CBIR; SRR and VQA run on the CPU demo)"
start=$(date +%s)
timeout ${FULL_TIMEOUT:-275} python3 -m csip.cli run --out /tmp/full --encoders all --width 64 --task cbir \
    --no-figures --quiet 2>&1 | grep -v "^features \|batch size lowered" | tail -60 | tee $OUT/full_table.txt
echo "full table wall: $(( $(date +%s) - start )) s" | tee -a $OUT/full_table.txt
cp /tmp/full/summary.json /tmp/full/summary.md $OUT/ 2>/dev/null
ls /tmp/full/runs/*/ 2>/dev/null | head -40
