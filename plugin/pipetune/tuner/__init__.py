"""The tuner: search spaces, algorithms, early stopping, the journal and the ask/tell loop."""
