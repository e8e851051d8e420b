"""Plain script: flags in, metric printed out."""

import argparse

parser = argparse.ArgumentParser()
parser.add_argument("--dropout", type=float)
parser.add_argument("--layers", type=int)
args = parser.parse_args()
for epoch in range(3):
    val_loss = (args.dropout - 0.3) ** 2 + abs(args.layers - 2) * 0.1 + 0.5 / (epoch + 1)
    print(f"epoch {epoch} val_loss={val_loss:.5f}")
