"""A toy detector 'training': reads the Picsellia params from flags, its dataset and base
model from the run inputs (``current_trial().dataset`` / ``.base_model``), reports a loss."""

import argparse
import math
from pathlib import Path

import scanfleet
import yaml

parser = argparse.ArgumentParser()
parser.add_argument("--batch_size", type=int, required=True)
parser.add_argument("--learning_rate", type=float, required=True)
parser.add_argument("--steps", type=int, required=True)
parser.add_argument("--annotation_type", required=True)
args = parser.parse_args()
assert args.steps == 1000

trial = scanfleet.current_trial()
here = Path(__file__).parent  # run by hand (python train.py --batch_size=2 ...): the folders here
dataset = yaml.safe_load(((trial.dataset or here / "data") / "annotations.yaml").read_text())
model = yaml.safe_load(((trial.base_model or here / "model") / "config.yaml").read_text())
assert dataset["annotation_type"] == args.annotation_type == "rectangle"

loss = 0.0
for epoch in range(4):
    # best near lr=1e-4, larger batches a bit better; the base model and the data set the floor
    loss = (
        abs(math.log10(args.learning_rate) + 4)
        + 1 / args.batch_size
        + model["pretrained_loss"] / (epoch + 1)
        + dataset["difficulty"]
    )
    trial.report("Loss-total_loss", loss, step=(epoch + 1) * args.steps // 4)
print(f"Loss-total_loss={loss:.5f}")
