"""Experiments that drive the trainer end to end: published protocols (`bench`), GAN vs VAE vs
diffusion under one budget (`compare`) and speed / time to quality against a plain loop (`speed`).

They use the trainer's public methods only, so what they measure is what a user's run does.
"""
