# The fixture's training recipe, shared by make.sh (this machine's CPU) and train-on-gpu.sh (a lent
# GPU machine), so a checkpoint of one goes on in the other. Sourced, not run.
# - fan-in initial scale: the lookup never formed at GPT-2's 0.02 (the fixture's README);
# - a first stage of two facts of one attribute in a world of 24 people, then that world's full
#   warm-up, then the base curriculum over all 360 people;
# - every question asked in parallel (none sees another's answer: no elimination), 4 a chunk.
# The schedule spans --steps; the learning rate is flat until 75 % of it.
RECIPE=(--steps 30000 --lr 1e-3 --hidden 128 --intermediate 384 --init fan-in
        --warm-up-world 24 --warm-up-pairs --one-attribute-share 0.5 --parallel-questions --questions-per-chunk 4)
