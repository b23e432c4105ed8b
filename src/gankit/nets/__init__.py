"""Architectures and building blocks only: no training logic lives here."""
from .classifier import DigitClassifier
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .mlp import MLPDiscriminator, MLPGenerator

__all__ = ["MLPGenerator", "MLPDiscriminator", "DCGANGenerator", "DCGANDiscriminator", "DigitClassifier"]
