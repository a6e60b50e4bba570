"""Local mode: the whole of Playout on one machine, with moto standing in for AWS (`python -m local`)."""
