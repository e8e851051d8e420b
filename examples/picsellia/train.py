"""A toy detector 'training': reads the Picsellia params from flags, reports a loss."""

import argparse
import math

import scanfleet

parser = argparse.ArgumentParser()
parser.add_argument("--batch_size", type=int, required=True)
parser.add_argument("--learning_rate", type=float, required=True)
parser.add_argument("--steps", type=int, required=True)
parser.add_argument("--annotation_type", required=True)
args = parser.parse_args()
assert args.annotation_type == "rectangle" and args.steps == 1000

trial = scanfleet.current_trial()
loss = 0.0
for epoch in range(4):
    # best near lr=1e-4, larger batches a bit better
    loss = abs(math.log10(args.learning_rate) + 4) + 1 / args.batch_size + 1 / (epoch + 1)
    trial.report("Loss-total_loss", loss, step=(epoch + 1) * args.steps // 4)
print(f"Loss-total_loss={loss:.5f}")
