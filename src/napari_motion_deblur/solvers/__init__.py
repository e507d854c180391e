"""Solvers of the non-blind problem: IRC-Net and the baselines it is compared with."""
