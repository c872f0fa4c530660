"""`make train-scorer`: builds the answer scorer's examples, trains it, calibrates it and writes its card."""
