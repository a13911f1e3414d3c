#!/usr/bin/env bash
# One device session (a GPU machine with the repo, the built csip_core extension and torch):
# sfb_batch scaling on all cores, then the study's full table on CUDA. Outputs go to $OUT.
export PYTHONPATH=$PWD/python PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name --format=csv,noheader; nproc
python3 -c "import csip_core, torch; print('csip_core', csip_core.__file__, 'torch', torch.__version__)" || exit 1
echo "== sfb_batch scaling"
timeout 60 python3 benches/bench_sfb_scaling.py --threads 1,2,4,8,16 --pairs 2048 --repeats 3 2>&1 | tee $OUT/sfb_scaling.txt
echo "== full table (4 encoders x 3 seeds, width 64, CBIR; SRR and VQA run on the CPU demo)"
start=$(date +%s)
timeout ${FULL_TIMEOUT:-275} python3 -m csip.cli run --out /tmp/full --encoders all --width 64 --task cbir \
    --no-figures --quiet 2>&1 | grep -v "^features \|batch size lowered" | tail -60 | tee $OUT/full_table.txt
echo "full table wall: $(( $(date +%s) - start )) s" | tee -a $OUT/full_table.txt
cp /tmp/full/summary.json /tmp/full/summary.md $OUT/ 2>/dev/null
ls /tmp/full/runs/*/ 2>/dev/null | head -40
