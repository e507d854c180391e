"""Blind estimation of the motion field: Motion-Net, the cepstral cues and the public API."""
